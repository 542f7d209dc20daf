from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.support import create_pg_database, drop_pg_database, roster_database


class World(NamedTuple):
    """A running product on loopback: `world.server.url`, `world.services.sessions()`,
    `world.signer` (WeCom's side of the callback), `world.clock.set(...)`. It still unpacks as
    `server, services, signer, clock = world` for older tests."""
    server: Any
    services: Any
    signer: Any
    clock: Any


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database on each backend: SQLite in a temp folder, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bot.db"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/bot.db"


@pytest.fixture
def world(db_url, tmp_path):
    """A migrated database with the test roster, the webhook on loopback, WeCom-side signers.

    Yields a `World` (server, services, callback signer, clock); the aibot signer is
    `world_aibot()`.
    The clock stands at 2020-02-04 07:40 Asia/Shanghai (a Tuesday, during the morning check).
    """
    import datetime as dt

    from bot.app import create_app
    from bot.services import Services
    from bot.wecom.signer import CallbackSigner
    from storage.db import upgrade
    from storage.roster import apply_roster, load_roster
    from tests.support import (ROSTER_CSV, SAMPLE_AES_KEY, SAMPLE_CORP_ID, SAMPLE_TOKEN,
                               FixedClock, LiveServer, make_config)

    upgrade(db_url)
    config = make_config(db_url)
    clock = FixedClock(dt.datetime(2020, 2, 4, 7, 40))
    svc = Services.build(config, clock=clock)
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER_CSV, encoding="utf-8")
    with svc.sessions() as s, s.begin():
        apply_roster(s, load_roster(csv))
    app = create_app(services=svc)
    with LiveServer(app) as server:
        yield World(server, svc, CallbackSigner(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID),
                    clock)
    svc.close()


@pytest.fixture
def roster_db(db_url, tmp_path):
    """The test roster in a migrated database (both backends), without a server."""
    engine, db = roster_database(db_url, tmp_path)
    yield db
    engine.dispose()

