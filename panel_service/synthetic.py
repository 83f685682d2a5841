"""Deterministic synthetic volunteers for the demo, the benchmark and load tests.

``generate_volunteers`` yields dicts in the import-line format of ``panel import profiles``
(the product contract §8). The frequencies are tuned so that the two criteria sets of
docs/performance.md match about 3 %
(narrow: age 18-75, has G25.81, not N18, not D66, not pregnant) and about 11-12 % (broad: age
40-75, I10 or E11, BMI 25-40, not N18, not pregnant) of everyone.

Volunteer ``n`` depends only on ``(seed, n, today)``: records are produced in blocks of
``BLOCK`` volunteers, each block from its own seeded generator, so ``start`` may point anywhere
and parallel loaders can each take a range.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from panel_service.domain.profile import latest_adult_birth_date

BLOCK = 1000
AGE_BANDS = 12
POOL_SIZE = 1024
OLDEST_AGE = 90
LEAP_YEAR_DAYS = 365.25


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES_FEMALE = _words(
    "Anna Emma Ida Sofie Freja Mette Hanne Kirsten Lene Camilla Maria Louise Julie Karen "
    "Susanne Inge Birgitte Marianne Laura Clara"
)
FIRST_NAMES_MALE = _words(
    "Jens Peter Lars Søren Niels Michael Henrik Thomas Anders Morten Jesper Mads Rasmus "
    "Frederik Mikkel Christian Ole Poul Emil William"
)
LAST_NAMES = _words(
    "Nielsen Jensen Hansen Pedersen Andersen Christensen Larsen Sørensen Rasmussen Jørgensen "
    "Petersen Madsen Kristensen Olsen Thomsen Christiansen Poulsen Johansen Møller Mortensen"
)
FEMALE_NAMES = tuple(f"{first} {last}" for first in FIRST_NAMES_FEMALE for last in LAST_NAMES)
MALE_NAMES = tuple(f"{first} {last}" for first in FIRST_NAMES_MALE for last in LAST_NAMES)

# Cumulative weights: the five Danish regions by population, then a few neighbours.
REGIONS = (
    ("DK-84", 0.31),
    ("DK-82", 0.53),
    ("DK-83", 0.73),
    ("DK-85", 0.87),
    ("DK-81", 0.97),
    ("SE-M", 0.985),
    ("DE-SH", 0.995),
)

# (dotted ICD-10 code, prevalence at age 18, prevalence at age 90); linear in between.
CONDITIONS = (
    ("G25.81", 0.046, 0.046),  # restless legs (ICD-10-CM)
    ("E78.5", 0.04, 0.35),  # hyperlipidaemia
    ("J45.9", 0.09, 0.06),  # asthma
    ("F32.9", 0.08, 0.06),  # depression
    ("F41.1", 0.06, 0.03),  # anxiety
    ("M54.5", 0.08, 0.14),  # low back pain
    ("K21.9", 0.05, 0.12),  # reflux
    ("E03.9", 0.02, 0.08),  # hypothyroidism
    ("I25.1", 0.00, 0.12),  # coronary heart disease
    ("I48.91", 0.00, 0.12),  # atrial fibrillation (ICD-10-CM)
    ("G43.9", 0.08, 0.03),  # migraine
    ("M17.9", 0.00, 0.20),  # knee osteoarthritis
    ("J44.9", 0.00, 0.09),  # COPD
    ("L40.0", 0.02, 0.03),  # psoriasis
    ("G47.33", 0.01, 0.06),  # sleep apnoea (ICD-10-CM)
    ("K58.9", 0.05, 0.03),  # irritable bowel
    ("M81.0", 0.00, 0.15),  # osteoporosis
    ("H40.9", 0.00, 0.08),  # glaucoma
    ("D50.9", 0.03, 0.04),  # iron deficiency anaemia
    ("D66", 0.002, 0.002),  # haemophilia A
)
HYPERTENSION = ("I10", 0.04, 0.66)
TYPE_2_DIABETES = ("E11.9", 0.01, 0.25)
KIDNEY_DISEASE = (("N18.3", 0.60), ("N18.4", 0.75), ("N18.9", 0.90), ("N17.9", 0.95), ("N19", 1.0))

# (condition that makes it likely or None for anyone, ATC code, probability)
MEDICATIONS = (
    ("I10", "C09AA05", 0.45),  # ramipril
    ("I10", "C08CA01", 0.35),  # amlodipine
    ("I10", "C03AA03", 0.15),  # hydrochlorothiazide
    ("E11.9", "A10BA02", 0.80),  # metformin
    ("E11.9", "A10BJ02", 0.20),  # liraglutide
    ("E78.5", "C10AA05", 0.50),  # atorvastatin
    ("E78.5", "C10AA01", 0.30),  # simvastatin
    ("J45.9", "R03AC02", 0.70),  # salbutamol
    ("J45.9", "R03BA02", 0.40),  # budesonide
    ("F32.9", "N06AB06", 0.35),  # sertraline
    ("F32.9", "N06AB04", 0.25),  # citalopram
    ("E03.9", "H03AA01", 0.90),  # levothyroxine
    ("K21.9", "A02BC01", 0.50),  # omeprazole
    ("I48.91", "B01AF01", 0.60),  # rivaroxaban
    ("I25.1", "B01AC06", 0.70),  # acetylsalicylic acid
    ("G25.81", "N04BC05", 0.30),  # pramipexole
    ("D50.9", "B03AA07", 0.60),  # ferrous sulfate
    (None, "A12CC05", 0.035),  # magnesium oxide
    (None, "A12CC04", 0.015),  # magnesium citrate
    (None, "N02BE01", 0.12),  # paracetamol
    (None, "M01AE01", 0.06),  # ibuprofen
    (None, "A11CC05", 0.08),  # colecalciferol
    (None, "R06AE07", 0.05),  # cetirizine
)


def generate_volunteers(
    count: int, seed: int = 0, start: int = 0, today: dt.date | None = None
) -> Iterator[dict[str, Any]]:
    """Volunteers ``start`` .. ``start + count - 1`` as import lines (plain dicts).

    Deterministic for ``(seed, start, count, today)``; ``today`` (default: the date today)
    anchors the ages so that everyone is an adult of 18-90 on that day.
    """
    generator = _Generator(_health_pools(seed), today or dt.date.today())
    end = start + count
    number = start
    while number < end:
        block = number // BLOCK
        rng = random.Random(f"{seed}:{block}")
        first_in_block = block * BLOCK
        for position in range(first_in_block, min(first_in_block + BLOCK, end)):
            volunteer = generator.volunteer(rng.random, position)
            if position >= number:
                yield volunteer
        number = min(first_in_block + BLOCK, end)


Health = tuple[tuple[str, ...] | None, tuple[str, ...] | None]
Body = tuple[float | None, float | None]


class _HealthPools:
    """Pre-drawn samples of condition/medication lists per age band and of bodies per sex/age band.

    Drawing every code for every volunteer costs about 25 µs in Python; picking one of
    ``POOL_SIZE`` pre-drawn samples keeps the generator above 100,000 volunteers a second while
    the frequencies stay those of the tables above.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._health: dict[int, list[Health]] = {}
        self._bodies: dict[tuple[str | None, int], list[Body]] = {}

    def health(self, band: int) -> list[Health]:
        pool = self._health.get(band)
        if pool is None:
            rng = random.Random(f"{self.seed}:health:{band}")
            age_fraction = (band + 0.5) / AGE_BANDS
            pool = [_health_sample(rng, age_fraction) for _ in range(POOL_SIZE)]
            self._health[band] = pool
        return pool

    def bodies(self, sex: str | None, band: int) -> list[Body]:
        pool = self._bodies.get((sex, band))
        if pool is None:
            rng = random.Random(f"{self.seed}:body:{sex}:{band}")
            age_fraction = (band + 0.5) / AGE_BANDS
            pool = [_body(rng, sex, age_fraction) for _ in range(POOL_SIZE)]
            self._bodies[(sex, band)] = pool
        return pool


@functools.lru_cache(maxsize=8)
def _health_pools(seed: int) -> _HealthPools:
    return _HealthPools(seed)


class _Generator:
    def __init__(self, pools: _HealthPools, today: dt.date) -> None:
        self.pools = pools
        self.latest_birth = latest_adult_birth_date(today).toordinal()
        self.birth_span = int((OLDEST_AGE + 1 - 18) * LEAP_YEAR_DAYS) - 1
        self.iso_dates: dict[int, str] = {}

    def birth_date(self, ordinal: int) -> str:
        text = self.iso_dates.get(ordinal)
        if text is None:
            text = self.iso_dates[ordinal] = dt.date.fromordinal(ordinal).isoformat()
        return text

    def volunteer(self, rand: Callable[[], float], number: int) -> dict[str, Any]:
        birth_ordinal = self.latest_birth - int(rand() * self.birth_span)
        age_fraction = (self.latest_birth - birth_ordinal) / self.birth_span  # 0 = 18, 1 = 90
        band = min(int(age_fraction * AGE_BANDS), AGE_BANDS - 1)
        sex = _pick_sex(rand())
        names = MALE_NAMES if sex == "male" else FEMALE_NAMES
        health = self.pools.health(band)[int(rand() * POOL_SIZE)]
        height, weight = self.pools.bodies(sex, band)[int(rand() * POOL_SIZE)]
        return {
            "email": f"volunteer{number}@example.org",
            "name": names[int(rand() * len(names))],
            "phone": f"+45 {20000000 + int(rand() * 79999999)}" if rand() < 0.5 else None,
            "language": "da" if rand() < 0.7 else "en",
            "consent": rand() < 0.9,
            "birth_date": self.birth_date(birth_ordinal),
            "sex": sex,
            "region": _pick_region(rand()),
            "height_cm": height,
            "weight_kg": weight,
            "smoker": None if rand() < 0.08 else rand() < 0.16,
            "pregnant": _pregnant(rand, sex, age_fraction),
            "conditions": None if health[0] is None else list(health[0]),
            "medications": None if health[1] is None else list(health[1]),
        }


def _pick_sex(draw: float) -> str | None:
    if draw < 0.51:
        return "female"
    if draw < 0.98:
        return "male"
    return "other" if draw < 0.995 else None


def _pick_region(draw: float) -> str | None:
    for region, cumulative in REGIONS:
        if draw < cumulative:
            return region
    return None


def _body(rng: random.Random, sex: str | None, age_fraction: float) -> Body:
    if rng.random() < 0.06:
        return None, None
    mean_height = 181.0 if sex == "male" else 167.0
    height = min(max(rng.gauss(mean_height, 7.0), 140.0), 210.0)
    body_mass_index = min(max(rng.gauss(24.5 + 4.0 * age_fraction, 4.5), 16.0), 55.0)
    weight = body_mass_index * (height / 100) ** 2
    return round(height, 1), round(min(max(weight, 35.0), 250.0), 1)


def _pregnant(rand: Callable[[], float], sex: str | None, age_fraction: float) -> bool | None:
    if sex == "male" or sex is None or rand() < 0.10:
        return None
    fertile = age_fraction < 0.35  # about 18-43
    return fertile and rand() < 0.05


def _prevalence(low: float, high: float, age_fraction: float) -> float:
    return low + (high - low) * age_fraction


def _health_sample(rng: random.Random, age_fraction: float) -> Health:
    conditions = _conditions(rng.random, age_fraction)
    return (None if conditions is None else tuple(conditions)), _medications(rng.random, conditions)


def _conditions(rand: Callable[[], float], age_fraction: float) -> list[str] | None:
    if rand() < 0.08:
        return None
    found = [code for code, low, high in CONDITIONS if rand() < _prevalence(low, high, age_fraction)]
    for code, low, high in (HYPERTENSION, TYPE_2_DIABETES):
        if rand() < _prevalence(low, high, age_fraction):
            found.append(code)
    if rand() < _prevalence(0.005, 0.12, age_fraction):
        draw = rand()
        found.append(next(code for code, cumulative in KIDNEY_DISEASE if draw < cumulative))
    return found


def _medications(rand: Callable[[], float], conditions: list[str] | None) -> tuple[str, ...] | None:
    if rand() < 0.10:
        return None
    present = set(conditions or ())
    return tuple(
        code
        for reason, code, probability in MEDICATIONS
        if (reason is None or reason in present) and rand() < probability
    )


# -- profile version 2: histories, catalogue answers and a home (issue 12 item 8) -------------------

# Towns volunteers live in (lat, lon, weight ~ population); homes are jittered around them and
# rounded to 0.01° as the service stores them (a town, never an address).
HOME_TOWNS = (
    (55.68, 12.57, 0.30),  # København
    (56.16, 10.20, 0.12),  # Aarhus
    (55.40, 10.39, 0.08),  # Odense
    (57.05, 9.92, 0.08),  # Aalborg
    (55.47, 8.45, 0.05),  # Esbjerg
    (56.46, 10.04, 0.04),  # Randers
    (55.49, 9.47, 0.04),  # Kolding
    (55.86, 9.85, 0.04),  # Horsens
    (55.71, 9.54, 0.04),  # Vejle
    (55.64, 12.08, 0.04),  # Roskilde
    (56.14, 8.97, 0.04),  # Herning
    (55.23, 11.76, 0.03),  # Næstved
    (55.10, 14.70, 0.02),  # Rønne (Bornholm)
    (54.77, 11.87, 0.02),  # Nykøbing Falster
    (56.45, 9.40, 0.06),  # Viborg and the rest of mid-Jutland
)
NO_HOME = 0.05
# (key, share of volunteers who answered) for the plain questions; the conditional ones
# (smoking history, the PHQ-9 / GAD-7 items, the questions asked of women) follow below.
PLAIN_ANSWERS = (
    ("smoking_status", 0.92), ("alcohol_units_week", 0.88), ("hospital_admissions_12m", 0.85),
    ("exacerbations_12m", 0.6), ("falls_12m", 0.75), ("rls_nights_week", 0.6),
    ("walks_unaided", 0.9), ("lives_alone", 0.9), ("drug_study_3m", 0.85), ("willing_mri", 0.85),
    ("willing_blood_samples", 0.9), ("willing_overnight", 0.8), ("languages", 0.85),
    ("max_travel_km", 0.85), ("contraception", 0.5),
)  # fmt: skip
FEMALE_ANSWERS = (("menopausal_status", 0.7), ("breastfeeding", 0.6), ("planning_pregnancy", 0.6))
INSTRUMENT_SHARE = 0.4  # answered the PHQ-9 (and, separately, the GAD-7) with all its items
ITEM_OPTIONS = ("not_at_all", "several_days", "more_than_half", "nearly_every_day")
ITEM_WEIGHTS = (0.55, 0.28, 0.11, 0.06)
LANGUAGE_SETS = (("da",), ("da", "en"), ("da", "en", "de"), ("en",), ("da", "en", "sv"), ("da", "sv"))
LANGUAGE_WEIGHTS = (0.25, 0.45, 0.1, 0.08, 0.07, 0.05)
MEAN_ANSWER_AGE_DAYS = 330  # answered_on: exponential, so about a third are over a year old


def history_entry(rand: Callable[[], float], today: dt.date) -> tuple[str | None, str | None, str | None]:
    """(status, since, until) for one code: a third plain, the rest current or past with partial
    dates (a year, a month or a day), as volunteers give them."""
    draw = rand()
    if draw < 0.35:
        return None, None, None
    start = today.toordinal() - int(rand() * rand() * 30 * 365) - 1
    since = _partial(dt.date.fromordinal(start), rand())
    if draw < 0.7:
        return "current", since, None
    if draw < 0.75:
        return "past", None, None
    end = min(today.toordinal(), start + 1 + int(rand() * 6 * 365))
    until = _partial(dt.date.fromordinal(end), rand())
    if until < since[: len(until)]:  # a coarser until that covers the same year or month
        until = since
    return "past", since if rand() < 0.85 else None, until


def _partial(day: dt.date, draw: float) -> str:
    if draw < 0.45:
        return f"{day.year:04d}"
    if draw < 0.85:
        return f"{day.year:04d}-{day.month:02d}"
    return day.isoformat()


def home_point(rand: Callable[[], float]) -> tuple[float, float] | None:
    if rand() < NO_HOME:
        return None
    draw = rand() * sum(town[2] for town in HOME_TOWNS)
    town = HOME_TOWNS[-1]
    for town in HOME_TOWNS:
        draw -= town[2]
        if draw <= 0:
            break
    lat, lon, weight = town
    spread = 0.35 if weight < 0.1 else 0.15
    return round(lat + (rand() - 0.5) * spread, 2), round(lon + (rand() - 0.5) * spread * 1.7, 2)


def answers(
    rand: Callable[[], float], volunteer: dict[str, Any], today: dt.date
) -> list[tuple[str, Any, dt.date]]:
    """About 20 catalogue answers of one volunteer as (key, value, answered_on), values in the
    catalogue's types (bool, int, float, option key, tuple of option keys); some are stale."""
    out: list[tuple[str, Any, dt.date]] = []

    def on() -> dt.date:
        days = min(int(-MEAN_ANSWER_AGE_DAYS * _log(rand())), 8 * 365)
        return dt.date.fromordinal(today.toordinal() - days)

    for key, share in PLAIN_ANSWERS:
        if rand() >= share:
            continue
        value = _plain_value(key, rand, volunteer)
        out.append((key, value, on()))
        if key == "smoking_status" and value != "never":
            out.append(("pack_years", round(rand() * rand() * 60, 1), on()))
            if value == "former":
                out.append(("smoking_quit_year", today.year - int(rand() * 40), on()))
    if volunteer["sex"] != "male":
        for key, share in FEMALE_ANSWERS:
            if rand() < share:
                out.append((key, _plain_value(key, rand, volunteer), on()))
    for instrument, items in (("phq9", 9), ("gad7", 7)):
        if rand() < INSTRUMENT_SHARE:
            day = on()
            scores = [_weighted(rand(), range(4), ITEM_WEIGHTS) for _ in range(items)]
            out += [(f"{instrument}_{n}", ITEM_OPTIONS[s], day) for n, s in enumerate(scores, start=1)]
            out.append((instrument, sum(scores), day))
    return out


def _log(draw: float) -> float:
    return math.log(max(draw, 1e-12))


def _weighted(draw: float, values: Any, weights: tuple[float, ...]) -> Any:
    for value, weight in zip(values, weights, strict=True):
        draw -= weight
        if draw < 0:
            return value
    return value


def _plain_value(key: str, rand: Callable[[], float], volunteer: dict[str, Any]) -> Any:
    if key == "smoking_status":
        if volunteer["smoker"]:
            return "current"
        return "former" if rand() < 0.35 else "never"
    if key == "alcohol_units_week":
        return int(rand() * rand() * 30)
    if key in ("hospital_admissions_12m", "falls_12m", "exacerbations_12m"):
        return 0 if rand() < 0.8 else 1 + int(rand() * rand() * 6)
    if key == "rls_nights_week":
        return 0 if rand() < 0.85 else 1 + int(rand() * 7)
    if key == "languages":
        return _weighted(rand(), LANGUAGE_SETS, LANGUAGE_WEIGHTS)
    if key == "max_travel_km":
        return _weighted(rand(), (10, 25, 50, 100, 200), (0.15, 0.25, 0.3, 0.2, 0.1))
    if key == "menopausal_status":
        return _weighted(rand(), ("premenopausal", "perimenopausal", "postmenopausal"), (0.45, 0.15, 0.4))
    yes = {"walks_unaided": 0.93, "lives_alone": 0.3, "drug_study_3m": 0.04, "breastfeeding": 0.03}
    return rand() < yes.get(key, 0.6)
