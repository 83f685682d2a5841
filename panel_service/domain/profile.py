"""The health profile as plain data, shared by the evaluator, the import and the forms.

``None`` always means unanswered. ``conditions``/``medications`` of ``None`` mean the list was
not answered; an empty tuple means "none" (closed world once answered, the product contract §4).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from panel_service.domain.geo import Home
from panel_service.domain.history import Entry
from panel_service.domain.questions import Answer
from panel_service.domain.vocab import Sex

# An ICD-10 category is a letter and two digits or letters: WHO ICD-10 has a digit second
# (G25, U07), ICD-10-CM also a letter (QA0, "genetic disorders", with QA0.0101 and so on).
ICD10_CATEGORY_FORM = "[A-Z][0-9A-Z][0-9A-Z]"
ICD10_CATEGORY = re.compile(rf"^{ICD10_CATEGORY_FORM}$")
ICD10_CODE = re.compile(rf"^{ICD10_CATEGORY_FORM}(\.?[0-9A-Z]{{1,4}})?$")
# ATC level 1 is one of the 14 anatomical main groups; then two digits, a letter, a letter and
# two digits for levels 2 to 5.
ATC_MAIN_GROUPS = "ABCDGHJLMNPRSV"
ATC_CODE = re.compile(rf"^[{ATC_MAIN_GROUPS}]([0-9]{{2}}([A-Z]([A-Z]([0-9]{{2}})?)?)?)?$")
REGION_CODE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
ADULT_AGE = 18


def normalise_icd10(code: str) -> str:
    """``g25.81`` → ``G2581``: upper case, no dot. Raises ValueError when not well formed."""
    cleaned = code.strip().upper()
    if not ICD10_CODE.match(cleaned):
        raise ValueError(f"not an ICD-10 code: {code!r}")
    return cleaned.replace(".", "")


def normalise_atc(code: str) -> str:
    cleaned = code.strip().upper()
    if not ATC_CODE.match(cleaned):
        raise ValueError(f"not an ATC code: {code!r}")
    return cleaned


def display_icd10(code: str) -> str:
    """``G2581`` → ``G25.81`` (the dotted form people read)."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def bmi(height_cm: float | None, weight_kg: float | None) -> float | None:
    """Body-mass index rounded half-up to one decimal; None when either input is unanswered.

    Both evaluators use this one function (the SQL side reads the stored ``profiles.bmi``),
    so they agree to the last digit.
    """
    if height_cm is None or weight_kg is None or height_cm <= 0:
        return None
    metres = Decimal(str(height_cm)) / 100
    value = Decimal(str(weight_kg)) / (metres * metres)
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Whole years on ``on``. Someone born on 29 February turns a year older on 1 March."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def latest_adult_birth_date(today: dt.date) -> dt.date:
    """The latest birth date of someone who is at least 18 on ``today``."""
    try:
        return today.replace(year=today.year - ADULT_AGE)
    except ValueError:  # today is 29 February; an adult must be born on or before 28 February
        return today.replace(year=today.year - ADULT_AGE, day=28)


@dataclass(frozen=True)
class ProfileData:
    birth_date: dt.date | None = None
    sex: str | None = None
    region: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    smoker: bool | None = None
    pregnant: bool | None = None
    conditions: tuple[str, ...] | None = None  # normalised ICD-10 codes, or None = unanswered
    medications: tuple[str, ...] | None = None  # normalised ATC codes, or None = unanswered
    # Histories (§4a) of some of those codes, sorted by code; a code without one is plain.
    condition_history: tuple[Entry, ...] = ()
    medication_history: tuple[Entry, ...] = ()
    home: Home | None = None  # §4a: a point (and the gazetteer place), never an address
    extra: dict[str, object] = field(default_factory=dict, compare=False)
    # Answers to catalogue questions (§4a) by key, scored instruments included; absent = unanswered.
    answers: Mapping[str, Answer] = field(default_factory=dict)

    @property
    def bmi(self) -> float | None:
        return bmi(self.height_cm, self.weight_kg)

    @property
    def condition_entries(self) -> tuple[Entry, ...] | None:
        return _entries(self.conditions, self.condition_history)

    @property
    def medication_entries(self) -> tuple[Entry, ...] | None:
        return _entries(self.medications, self.medication_history)

    @property
    def effective_pregnant(self) -> bool | None:
        """The one rule of fact: ``pregnant`` is false when sex is male."""
        if self.sex == Sex.MALE:
            return False
        return self.pregnant


def _entries(codes: tuple[str, ...] | None, history: tuple[Entry, ...]) -> tuple[Entry, ...] | None:
    """Every listed code as an entry: its history where there is one, else a plain entry."""
    if codes is None:
        return None
    detailed = {entry.code: entry for entry in history}
    return tuple(detailed.get(code, Entry(code)) for code in codes)
