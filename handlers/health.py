"""What is abnormal: the one home of the fever rule and the symptom groups.

Every place that decides or counts a fever (the parser, the alerts, the figures, the digests,
the follow-ups, the early warning) calls these functions; nothing else compares a temperature
with the threshold.
"""
from __future__ import annotations

from typing import Iterable

from handlers.lexicon import SYMPTOM_NAMES

DEFAULT_FEVER_THRESHOLD = 37.3

# Symptom groups watched by the early warning (CONTRACT.md, "Early warning").
SYMPTOM_GROUPS: dict[str, frozenset[str]] = {
    "respiratory": frozenset({"cough", "sore_throat", "runny_nose", "dyspnea"}),
    "digestive": frozenset({"diarrhea", "vomiting", "abdominal_pain"}),
    "rash": frozenset({"rash", "parotid_swelling", "conjunctivitis"}),
}


def is_fever(temperature: float | None, symptoms: Iterable[str], threshold: float) -> bool:
    """A stated fever, or a temperature at or above the threshold."""
    return (temperature is not None and temperature >= threshold) or "fever" in symptoms


def is_abnormal(temperature: float | None, symptoms: Iterable[str], threshold: float) -> bool:
    """A fever by temperature, or any stated symptom."""
    symptoms = tuple(symptoms)
    return bool(symptoms) or (temperature is not None and temperature >= threshold)


def effective_symptoms(temperature: float | None, symptoms: Iterable[str],
                       threshold: float) -> tuple[str, ...]:
    """The stated symptoms, with `fever` first when only the temperature says so."""
    symptoms = tuple(symptoms)
    if temperature is not None and temperature >= threshold and "fever" not in symptoms:
        return ("fever", *symptoms)
    return symptoms


def in_group(symptoms: Iterable[str], group: str) -> bool:
    return bool(SYMPTOM_GROUPS[group].intersection(symptoms))


def symptom_name(code: str) -> str:
    """fever → 发热; an unknown code as it is."""
    return SYMPTOM_NAMES.get(code, code)
