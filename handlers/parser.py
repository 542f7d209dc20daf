"""PLACEHOLDER minimal reader (own temperature, 正常, a few commands) until the full grammar lands.

Same public interface as the full parser: parse(text, today, fever_threshold) -> ParseResult.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

SYMPTOM_NAMES = {
    "fever": "发热", "cough": "咳嗽", "sore_throat": "咽痛", "fatigue": "乏力", "runny_nose": "流涕",
    "diarrhea": "腹泻", "vomiting": "呕吐", "headache": "头痛", "dyspnea": "呼吸困难", "rash": "皮疹",
    "conjunctivitis": "结膜炎", "loss_of_smell_taste": "嗅觉味觉减退", "abdominal_pain": "腹痛",
    "dizziness": "头晕", "parotid_swelling": "腮腺肿大", "jaundice": "黄疸",
}


@dataclass(frozen=True)
class PersonReading:
    name: str | None
    temperature: float | None
    symptoms: tuple[str, ...]
    abnormal: bool


@dataclass(frozen=True)
class ClassSummary:
    name: str | None
    expected: int | None
    present: int | None
    absent: int | None
    sick_absent: int | None
    fever: int | None


@dataclass(frozen=True)
class ParseError:
    code: str
    message: str


@dataclass(frozen=True)
class ParseResult:
    kind: str
    command: str | None = None
    date: dt.date | None = None
    session: str | None = None
    people: tuple[PersonReading, ...] = ()
    class_summary: ClassSummary | None = None
    errors: tuple[ParseError, ...] = ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "command": self.command,
                "date": self.date.isoformat() if self.date else None, "session": self.session,
                "people": [{"name": p.name, "temperature": p.temperature, "symptoms": list(p.symptoms),
                            "abnormal": p.abnormal} for p in self.people],
                "class": None if self.class_summary is None else vars(self.class_summary),
                "errors": [{"code": e.code, "message": e.message} for e in self.errors]}


_NUM = re.compile(r"(?:体温[:：]?\s*)?(\d{2}(?:\.\d)?)\s*(?:度|℃|°C)?")
_COMMANDS = {"帮助": "help", "?": "help", "？": "help", "查询": "query", "撤销": "undo",
             "统计": "stats", "谁没报": "unreported"}


def parse(text: str, today: dt.date, fever_threshold: float = 37.3) -> ParseResult:
    t = (text or "").strip()
    if t in _COMMANDS:
        return ParseResult("command", command=_COMMANDS[t])
    if t in ("正常", "无异常"):
        return ParseResult("report", date=today, people=(PersonReading(None, None, (), False),))
    m = re.fullmatch(r"(?:体温[:：]?\s*)?(\d{1,2}(?:\.\d+)?)\s*(?:度|℃|°C)?\s*(正常|发热|咳嗽)?", t)
    if not m or "." not in m.group(1) and not t.startswith("体温"):
        return ParseResult("unrecognized")
    temp = round(float(m.group(1)), 1)
    if not 34.0 <= temp <= 42.5:
        return ParseResult("invalid", date=today, errors=(ParseError(
            "temperature_out_of_range", f"体温{temp}℃超出合理范围（34.0–42.5℃），请核对后重新发送，例如：36.5"),))
    symptoms = ("fever",) if m.group(2) == "发热" else ("cough",) if m.group(2) == "咳嗽" else ()
    abnormal = temp >= fever_threshold or bool(symptoms)
    return ParseResult("report", date=today, people=(PersonReading(None, temp, symptoms, abnormal),))
