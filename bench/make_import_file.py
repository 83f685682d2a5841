"""Write N synthetic volunteers as an import file: ``python -m bench.make_import_file N FILE``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from panel_service.synthetic import generate_volunteers


def main() -> None:
    count, path = int(sys.argv[1]), Path(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    with path.open("w", encoding="utf-8") as handle:
        for volunteer in generate_volunteers(count, seed=seed):
            handle.write(json.dumps(volunteer, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
