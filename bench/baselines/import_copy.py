"""The lower bound for a bulk import: the same JSON lines parsed in Python and written with one
``COPY`` per table into an empty Panel schema, with nothing else: no validation beyond
``json.loads``, no staging table, no upsert, no history columns, no audit.

``copy_lines(path, url)`` reads the file that ``bench.make_import_file`` wrote, builds the rows
of accounts, participants, profiles, consents and both code tables (ids assigned here, codes
normalised as Panel does), and COPYs them on one connection in one transaction. Returns the
number of profiles written.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import psycopg

from panel_service.domain.profile import bmi, normalise_atc, normalise_icd10

TABLES = {
    "accounts": "id, email, role, email_verified_at, is_active, failed_logins",
    "participants": "id, account_id, name, phone, language, preferred_channel",
    "profiles": "participant_id, birth_date, sex, region, height_cm, weight_kg, bmi, smoker, pregnant, "
    "conditions_answered, medications_answered",
    "consents": "participant_id, kind, text_version",
    "profile_conditions": "participant_id, code",
    "profile_medications": "participant_id, code",
}


def _tsv(values: tuple[Any, ...]) -> str:
    return "\t".join("\\N" if value is None else str(value) for value in values) + "\n"


def copy_lines(path: Path, url: str) -> int:
    buffers = {table: io.StringIO() for table in TABLES}
    number = 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            person = json.loads(line)
            buffers["accounts"].write(_tsv((number, person["email"].lower(), "participant", "now", True, 0)))
            buffers["participants"].write(
                _tsv((number, number, person["name"], person["phone"], person["language"], "email"))
            )
            buffers["profiles"].write(
                _tsv(
                    (
                        number,
                        person["birth_date"],
                        person["sex"],
                        person["region"],
                        person["height_cm"],
                        person["weight_kg"],
                        bmi(person["height_cm"], person["weight_kg"]),
                        person["smoker"],
                        False if person["sex"] == "male" else person["pregnant"],
                        person["conditions"] is not None,
                        person["medications"] is not None,
                    )
                )
            )
            if person["consent"]:
                buffers["consents"].write(_tsv((number, "contact_about_studies", "1")))
            for code in sorted({normalise_icd10(c) for c in person["conditions"] or ()}):
                buffers["profile_conditions"].write(_tsv((number, code)))
            for code in sorted({normalise_atc(c) for c in person["medications"] or ()}):
                buffers["profile_medications"].write(_tsv((number, code)))
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        for table, columns in TABLES.items():
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(buffers[table].getvalue())
        for table in ("accounts", "participants"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {max(number, 1)})")
        connection.commit()
    return number
