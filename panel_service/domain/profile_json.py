"""Profile JSON (CLI files, import lines) → ``ProfileData``, with every error reported.

Keys: ``birth_date`` (YYYY-MM-DD), ``sex``, ``region``, ``height_cm``, ``weight_kg``,
``smoker``, ``pregnant``, ``conditions`` (ICD-10 codes, dotted or not), ``medications`` (ATC
codes), ``answers`` (§4a: ``{"key": value}`` or ``{"key": {"value": v, "answered_on":
"YYYY-MM-DD"}}``; scored instruments are answered through their items). An entry of a code list is a code, or (§4a) an object ``{"code", "status", "since",
"until"}`` with ``status`` ``current`` or ``past`` and partial dates ``YYYY``, ``YYYY-MM`` or
``YYYY-MM-DD`` (each optional). A code listed twice must not carry two different histories.
``home`` (§4a) is ``{"lat": 55.68, "lon": 12.57}`` (rounded to 0.01°), ``{"place": "Aarhus,
DK"}`` or ``{"geonameid": 2624652}`` (a town of the shipped gazetteer, ``domain.gazetteer``).
A missing or null key is unanswered; ``[]`` for a code list means "none". Other keys
(an import line's ``email``, ``name``, ...) are ignored unless ``strict`` is set.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t
from collections.abc import Callable

from panel_service.domain import gazetteer
from panel_service.domain.geo import Home, round_coordinate
from panel_service.domain.history import Entry, make_entry
from panel_service.domain.profile import (
    ProfileData,
    age_on,
    normalise_atc,
    normalise_icd10,
)
from panel_service.domain.questions import (
    Catalogue,
    agree_smoking,
    answers_from_json,
    answers_to_json,
    derive,
    seed_catalogue,
)
from panel_service.domain.regions import normalise_region
from panel_service.domain.vocab import SEXES, Sex

PROFILE_KEYS = (
    "birth_date",
    "sex",
    "region",
    "height_cm",
    "weight_kg",
    "smoker",
    "pregnant",
    "conditions",
    "medications",
    "answers",
    "home",
)
HOME_KEYS = ("lat", "lon", "place", "geonameid")
HEIGHT_RANGE = (40.0, 260.0)  # as the profiles table's check constraints
WEIGHT_RANGE = (20.0, 400.0)
MAX_CODES = 200
MAX_PLACE = 200
ENTRY_KEYS = ("code", "status", "since", "until")
ADULT_AGE = 18


class ProfileJSONError(ValueError):
    """``errors`` lists ``(key, message)`` pairs, e.g. ``("conditions[2]", "not an ICD-10 code: 'X'")``."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors))


class _Reader:
    def __init__(self, obj: dict[str, object]) -> None:
        self.obj = obj
        self.errors: list[tuple[str, str]] = []

    def get(self, key: str) -> object:
        return self.obj.get(key)

    def fail(self, key: str, message: str) -> None:
        self.errors.append((key, message))

    def birth_date(self, adult_on: dt.date | None) -> dt.date | None:
        value = self.get("birth_date")
        if value is None:
            return None
        try:
            born = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            born = None
        if born is None:
            self.fail("birth_date", f"expected a date as YYYY-MM-DD, got {value!r}")
            return None
        if adult_on is not None and age_on(born, adult_on) < ADULT_AGE:
            self.fail("birth_date", f"volunteers must be at least {ADULT_AGE} years old, got {value!r}")
            return None
        return born

    def choice(self, key: str, allowed: tuple[str, ...]) -> str | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() in allowed:
            return value.strip().lower()
        self.fail(key, f"expected one of {', '.join(allowed)}, got {value!r}")
        return None

    def region(self) -> str | None:
        value = self.get("region")
        if value is None:
            return None
        try:
            return normalise_region(value)
        except ValueError:
            self.fail(
                "region",
                f"expected an ISO 3166-2 region such as 'DK-84' or a country such as 'DK', got {value!r}",
            )
            return None

    def home(self) -> Home | None:
        """``{"lat", "lon"}`` (rounded to 0.01°, optionally with the ``place``/``geonameid`` it came
        from, as ``profile_to_json`` writes it), ``{"place": "Aarhus, DK"}`` or ``{"geonameid": N}``."""
        value = self.get("home")
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(
                "home",
                f'expected {{"lat", "lon"}}, {{"place": "Aarhus, DK"}} or {{"geonameid": N}}, got {value!r}',
            )
            return None
        valid = True
        for key in value:
            if key not in HOME_KEYS:
                self.fail(f"home.{key}", f"unknown key {key!r}; home keys are {', '.join(HOME_KEYS)}")
                valid = False
        place, geonameid = value.get("place"), value.get("geonameid")
        if place is not None and (not isinstance(place, str) or not 0 < len(place.strip()) <= MAX_PLACE):
            self.fail("home.place", f'expected a town as "Name, CC" such as "Aarhus, DK", got {place!r}')
            valid = False
        if geonameid is not None and (isinstance(geonameid, bool) or not isinstance(geonameid, int)):
            self.fail("home.geonameid", f"expected a GeoNames id (a whole number), got {geonameid!r}")
            valid = False
        if "lat" in value or "lon" in value:
            lat = self.coordinate(value, "lat", 90.0)
            lon = self.coordinate(value, "lon", 180.0)
            if lat is None or lon is None or not valid:
                return None
            name = None if place is None else " ".join(t.cast(str, place).split())
            return Home(round_coordinate(lat), round_coordinate(lon), name, t.cast(int | None, geonameid))
        if not valid:
            return None
        found = None
        if geonameid is not None:
            found = gazetteer.by_id(t.cast(int, geonameid))
            if found is None:
                self.fail("home.geonameid", f"no town with GeoNames id {geonameid!r} in the gazetteer")
                return None
        elif place is not None:
            found = gazetteer.lookup(t.cast(str, place))
            if found is None:
                self.fail("home.place", f'no town {place!r} in the gazetteer (write it as "Name, CC")')
                return None
        else:
            self.fail("home", 'give "lat" and "lon", a "place" or a "geonameid"')
            return None
        return Home(found.lat, found.lon, found.label, found.geonameid)

    def coordinate(self, value: dict[str, object], key: str, limit: float) -> float | None:
        number = value.get(key)
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            self.fail(f"home.{key}", f"expected a number of degrees, got {number!r}")
            return None
        if not -limit <= number <= limit:
            self.fail(f"home.{key}", f"expected {-limit:g} to {limit:g} degrees, got {number!r}")
            return None
        return float(number)

    def measure(self, key: str, bounds: tuple[float, float], unit: str) -> float | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(key, f"expected a number of {unit}, got {value!r}")
            return None
        if not bounds[0] <= value <= bounds[1]:
            self.fail(key, f"expected {bounds[0]:g} to {bounds[1]:g} {unit}, got {value!r}")
            return None
        return round(float(value), 1)  # stored with one decimal

    def flag(self, key: str) -> bool | None:
        value = self.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.fail(key, f"expected true or false, got {value!r}")
        return None

    def codes(
        self, key: str, normalise: Callable[[str], str], kind: str
    ) -> tuple[tuple[str, ...] | None, tuple[Entry, ...]]:
        """The codes of a list and the histories of those that have one."""
        value = self.get(key)
        if value is None:
            return None, ()
        if not isinstance(value, list) or len(value) > MAX_CODES:
            self.fail(key, f"expected a list of at most {MAX_CODES} {kind} codes (or null), got {value!r}")
            return None, ()
        entries: dict[str, Entry] = {}
        for index, item in enumerate(value):
            path = f"{key}[{index}]"
            entry = self.entry(item, path, normalise, kind)
            if entry is None:
                continue
            known = entries.get(entry.code)
            if known is not None and not entry.plain and not known.plain and known != entry:
                self.fail(path, f"{entry.code} is listed twice with different histories")
                continue
            if known is None or known.plain:
                entries[entry.code] = entry
        codes = tuple(sorted(entries))
        return codes, tuple(entries[code] for code in codes if not entries[code].plain)

    def entry(self, item: object, path: str, normalise: Callable[[str], str], kind: str) -> Entry | None:
        if isinstance(item, dict):
            for extra in item:
                if extra not in ENTRY_KEYS:
                    self.fail(
                        f"{path}.{extra}", f"unknown key {extra!r}; entry keys are {', '.join(ENTRY_KEYS)}"
                    )
            code = item.get("code")
            path_of_code = f"{path}.code"
        else:
            code, path_of_code = item, path
        try:
            if not isinstance(code, str):
                raise ValueError(code)
            normalised = normalise(code)
        except ValueError:
            self.fail(path_of_code, f"not a well-formed {kind} code: {code!r}")
            return None
        if not isinstance(item, dict):
            return Entry(normalised)
        try:
            return make_entry(normalised, item.get("status"), item.get("since"), item.get("until"))
        except ValueError as error:
            where, _, message = str(error).partition(": ")
            self.fail(f"{path}.{where}", message)
            return None


def profile_from_json(
    obj: object,
    *,
    strict: bool = False,
    adult_on: dt.date | None = None,
    catalogue: Catalogue | None = None,
    today: dt.date | None = None,
) -> ProfileData:
    """Validate and convert; raise ``ProfileJSONError`` listing every problem.

    ``strict`` refuses keys that are not profile keys; ``adult_on`` refuses a birth date of
    someone younger than 18 on that day (sign-up and import). ``answers`` (§4a) are checked
    against ``catalogue`` (default: the shipped seed); an answer without ``answered_on`` was
    given ``today`` (default: ``adult_on``, else the system date). ``smoker`` and
    ``smoking_status`` are made to agree, and refused when they contradict each other.
    """
    if not isinstance(obj, dict):
        raise ProfileJSONError([("$", f"expected a JSON object, got {obj!r}")])
    reader = _Reader(obj)
    if strict:
        for key in obj:
            if key not in PROFILE_KEYS:
                reader.fail(str(key), f"unknown key {key!r}; profile keys are {', '.join(PROFILE_KEYS)}")
    sex = reader.choice("sex", SEXES)
    pregnant = reader.flag("pregnant")
    if sex == Sex.MALE and pregnant:
        reader.fail("pregnant", "a profile whose sex is male cannot be pregnant")
    born = reader.birth_date(adult_on)
    region = reader.region()
    height_cm = reader.measure("height_cm", HEIGHT_RANGE, "cm")
    weight_kg = reader.measure("weight_kg", WEIGHT_RANGE, "kg")
    smoker = reader.flag("smoker")
    conditions, condition_history = reader.codes("conditions", normalise_icd10, "ICD-10")
    medications, medication_history = reader.codes("medications", normalise_atc, "ATC")
    day = today or adult_on or dt.date.today()
    answers, answer_errors = answers_from_json(catalogue or seed_catalogue(), obj.get("answers"), day)
    reader.errors.extend(answer_errors)
    status = answers.get("smoking_status")
    if status is not None and smoker is not None and smoker != (status.value == "current"):
        reader.fail("smoker", f"disagrees with answers.smoking_status ({status.value})")
    smoker, answers = agree_smoking(smoker, answers, smoker_given=smoker is not None, today=day)
    home = reader.home()
    profile = ProfileData(
        birth_date=born,
        sex=sex,
        region=region,
        height_cm=height_cm,
        weight_kg=weight_kg,
        smoker=smoker,
        pregnant=pregnant,
        conditions=conditions,
        medications=medications,
        condition_history=condition_history,
        medication_history=medication_history,
        answers=derive(catalogue or seed_catalogue(), answers),
        home=home,
    )
    if reader.errors:
        raise ProfileJSONError(reader.errors)
    return profile


def profile_to_json(profile: ProfileData) -> dict[str, object]:
    """The profile JSON of ``profile`` (the inverse of ``profile_from_json``), unanswered keys as null."""
    entries = {"conditions": profile.condition_entries, "medications": profile.medication_entries}
    return {
        "birth_date": None if profile.birth_date is None else profile.birth_date.isoformat(),
        "sex": profile.sex,
        "region": profile.region,
        "height_cm": profile.height_cm,
        "weight_kg": profile.weight_kg,
        "smoker": profile.smoker,
        "pregnant": profile.pregnant,
        **{
            key: None if listed is None else [entry.to_json() for entry in listed]
            for key, listed in entries.items()
        },
        "answers": answers_to_json(profile.answers, seed_catalogue()),
        "home": None if profile.home is None else profile.home.to_json(),
    }
