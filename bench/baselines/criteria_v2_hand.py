"""The hand-written count for the version-2 study of ``bench.v2_bench`` on the same schema.

What an expert writes on PostgreSQL for the study (``V2_STUDY`` there): the row filters, one
``EXISTS`` per history or answer test (on ``(code, participant_id)`` and ``(key, value_*)``
indexes), ``NOT EXISTS`` for the exclusion, and the distance as a latitude/longitude box plus the
haversine term per site, the constants worked out before the clock starts. Its answer must equal
Panel's compiled count; ``bench.v2_bench`` checks.
"""

from __future__ import annotations

import datetime as dt

from panel_service.domain.geo import Sites, a_threshold, bounding_box
from panel_service.domain.history import subtract_duration
from panel_service.queries.criteria_sql import birth_date_threshold


def query(
    today: dt.date, sites: Sites, km: float, excluded_ancestors: list[str]
) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {
        "oldest": birth_date_threshold(today, 76),
        "youngest": birth_date_threshold(today, 40),
        "recent": subtract_duration(today, "P2Y"),
        "a": a_threshold(km),
        "ancestors": excluded_ancestors or [""],
    }
    near = []
    for number, (lat, lon, cos_lat) in enumerate(sites):
        lat_low, lat_high, lon_low, lon_high = bounding_box((lat, lon, cos_lat), km)
        params |= {
            f"lat{number}": lat, f"lon{number}": lon, f"cos{number}": cos_lat,
            f"lat_low{number}": lat_low, f"lat_high{number}": lat_high,
            f"lon_low{number}": lon_low, f"lon_high{number}": lon_high,
        }  # fmt: skip
        near.append(
            f"(p.home_lat BETWEEN :lat_low{number} AND :lat_high{number} "
            f"AND p.home_lon BETWEEN :lon_low{number} AND :lon_high{number} "
            f"AND power(sin(radians(p.home_lat - :lat{number}) / 2), 2) + cos(radians(p.home_lat)) "
            f"* :cos{number} * power(sin(radians(p.home_lon - :lon{number}) / 2), 2) <= :a)"
        )
    clauses = [
        "p.birth_date > :oldest",
        "p.birth_date <= :youngest",
        "p.conditions_answered",
        "EXISTS (SELECT 1 FROM profile_conditions c WHERE c.participant_id = p.participant_id "
        "AND c.code >= 'I10' AND c.code < 'I11' "
        "AND (c.status = 'current' OR c.until_lo >= :recent OR c.since_lo >= :recent))",
        "NOT EXISTS (SELECT 1 FROM profile_conditions c WHERE c.participant_id = p.participant_id "
        "AND ((c.code >= 'N17' AND c.code < 'N1:') OR c.code = ANY(:ancestors)))",
        "EXISTS (SELECT 1 FROM profile_answers a WHERE a.participant_id = p.participant_id "
        "AND a.key = 'smoking_status' AND a.answered_on >= :recent "
        "AND a.value_text IN ('current', 'former'))",
        "EXISTS (SELECT 1 FROM profile_answers a WHERE a.participant_id = p.participant_id "
        "AND a.key = 'alcohol_units_week' AND a.value_num <= 21)",
        "p.home_lat IS NOT NULL",
        "(" + " OR ".join(near) + ")",
    ]
    return "SELECT count(*) FROM profiles p WHERE " + " AND ".join(clauses), params
