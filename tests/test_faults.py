"""Faults survived: the same message on several workers at once, a database that goes away."""
import concurrent.futures
import datetime as dt

import requests
from sqlalchemy import func, select

from bot.app import create_app
from bot.services import Services
from storage.models import HealthRecord, InboundMessage
from tests.support import LiveServer, make_config


def test_same_message_on_four_workers_at_once_is_one_record(world):
    server, svc, signer, _ = world
    for n in range(5):
        params, body = signer.encrypt(signer.text_message_xml("zhangls", f"36.{n}", msg_id=9000 + n))
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: requests.post(
                f"{server.url}/wecom/callback", params=params, data=body.encode(), timeout=15), range(4)))
        assert [a.status_code for a in answers] == [200] * 4
        replies = {signer.decrypt_reply(a.text) for a in answers}
        assert len(replies) == 1
    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 5
        assert s.scalar(select(func.count()).select_from(HealthRecord)) == 5     # history kept
        current = s.scalars(select(HealthRecord).where(HealthRecord.replaced_at.is_(None))).all()
        assert [r.temperature for r in current] == [36.4]


def test_different_messages_for_one_person_racing_keep_one_current_record(world):
    server, svc, signer, _ = world
    reqs = [signer.encrypt(signer.text_message_xml("lils", f"张三 36.{n}", msg_id=9100 + n)) for n in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda pb: requests.post(
            f"{server.url}/wecom/callback", params=pb[0], data=pb[1].encode(), timeout=20), reqs))
    assert all(a.status_code == 200 for a in answers)
    with svc.sessions() as s:
        current = s.scalars(select(HealthRecord).where(
            HealthRecord.replaced_at.is_(None), HealthRecord.revoked_at.is_(None))).all()
        assert len(current) == 1
        assert s.scalar(select(func.count()).select_from(HealthRecord)) == 6


def test_database_gone_answers_503_so_wecom_retries(tmp_path):
    config = make_config("postgresql+psycopg://postgres@127.0.0.1:1/none")
    svc = Services.build(config, clock=lambda: dt.datetime(2020, 2, 4, 7, 40, tzinfo=dt.timezone.utc))
    from bot.wecom.signer import CallbackSigner
    from tests.support import SAMPLE_AES_KEY, SAMPLE_CORP_ID, SAMPLE_TOKEN
    signer = CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    with LiveServer(create_app(services=svc)) as server:
        status, _ = signer.post_text(server.url, "zhangls", "36.5", msg_id=1, timeout=30)
    assert status == 503
