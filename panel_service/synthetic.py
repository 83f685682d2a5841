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
