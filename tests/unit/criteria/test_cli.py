"""``panel criteria`` through the real entry point (click's runner on ``panel_service.cli:main``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from panel_service.cli import main
from tests.unit.criteria.test_json_form import EXAMPLE
from tests.unit.criteria.test_text_form import EXAMPLE_TEXT

PROFILE = {
    "birth_date": "1980-02-29",
    "sex": "female",
    "pregnant": False,
    "conditions": ["G25.81"],
    "medications": [],
}


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["criteria", *map(str, args)])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "text": tmp_path / "criteria.txt",
        "json": tmp_path / "criteria.json",
        "profile": tmp_path / "profile.json",
        "unanswered": tmp_path / "unanswered.json",
        "bad": tmp_path / "bad.json",
        "bad_profile": tmp_path / "bad_profile.json",
    }
    paths["text"].write_text(EXAMPLE_TEXT)
    paths["json"].write_text(json.dumps(EXAMPLE))
    paths["profile"].write_text(json.dumps(PROFILE))
    paths["unanswered"].write_text(json.dumps({"sex": "female"}))
    paths["bad"].write_text(
        json.dumps({"all": [{"field": "age", "op": "between", "value": [75, 18]}, {"foo": 1}]})
    )
    paths["bad_profile"].write_text(json.dumps({"sex": "x", "conditions": ["G25.81", "??"]}))
    return paths


def test_check_prints_only_the_normalised_json(files: dict[str, Path]) -> None:
    for kind in ("text", "json"):
        result = run("check", files[kind])
        assert result.exit_code == 0
        assert json.loads(result.stdout) == EXAMPLE
        assert result.stderr == ""


def test_check_reports_each_error_with_its_path_on_stderr(files: dict[str, Path]) -> None:
    result = run("check", files["bad"])
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "all[0].value" in lines[0] and "[75, 18]" in lines[0]
    assert "all[1]" in lines[1] and '"foo"' in lines[1]


def test_check_reports_a_syntax_error_with_a_caret(tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("age >= 18 and (smoker")
    result = run("check", path)
    assert result.exit_code != 0
    assert "line 1, column 22" in result.stderr
    assert result.stderr.rstrip().endswith("^")


@pytest.mark.parametrize(
    ("on", "expected"),
    [("2026-11-25", "true"), ("1998-02-28", "false"), ("1998-03-01", "true")],
)
def test_eval_prints_the_truth_and_exits_zero(files: dict[str, Path], on: str, expected: str) -> None:
    result = run("eval", files["text"], files["profile"], "--on", on)
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{expected}\n", "")


def test_eval_of_an_unanswered_profile_is_unknown(files: dict[str, Path]) -> None:
    result = run("eval", files["json"], files["unanswered"], "--on", "2026-11-25")
    assert (result.exit_code, result.stdout) == (0, "unknown\n")


def test_eval_refuses_an_invalid_profile_naming_each_key(files: dict[str, Path]) -> None:
    result = run("eval", files["json"], files["bad_profile"])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "sex" in result.stderr and "conditions[1]" in result.stderr and "'??'" in result.stderr


def test_eval_refuses_a_bad_date(files: dict[str, Path]) -> None:
    result = run("eval", files["json"], files["profile"], "--on", "25/11/2026")
    assert result.exit_code != 0
    assert result.stdout == ""


def test_explain_lists_every_leaf(files: dict[str, Path]) -> None:
    result = run("explain", files["text"], files["unanswered"], "--on", "2026-11-25")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "result: unknown"
    assert "to settle it: What is your date of birth?" in result.stdout
    as_json = json.loads(
        run("explain", files["text"], files["profile"], "--json", "--on", "2026-11-25").stdout
    )
    assert as_json["result"] == "true"
    assert [leaf["path"] for leaf in as_json["leaves"]][:2] == ["all[0]", "all[1]"]


def test_the_installed_panel_command_runs(files: dict[str, Path]) -> None:
    panel = shutil.which("panel") or str(Path(__file__).parents[3] / ".venv" / "bin" / "panel")
    if not Path(panel).exists():
        pytest.fail("the panel entry point is not installed (pip install -e .)")
    done = subprocess.run(
        [panel, "criteria", "eval", str(files["text"]), str(files["profile"]), "--on", "2026-11-25"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "true\n", "")


def test_eval_takes_answers_and_reports_bad_ones_by_path(tmp_path: Path) -> None:
    criteria = tmp_path / "c.txt"
    criteria.write_text("answer smoking_status = former and answer languages has da answered within P1Y")
    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps(
            {
                "answers": {
                    "smoking_status": "former",
                    "languages": {"value": ["da", "en"], "answered_on": "2026-01-10"},
                }
            }
        )
    )
    assert run("eval", criteria, profile, "--on", "2026-06-15").stdout.strip() == "true"
    assert run("eval", criteria, profile, "--on", "2027-06-15").stdout.strip() == "unknown"
    profile.write_text(json.dumps({"smoker": True}))  # smoker alone means smoking_status current
    assert run("eval", criteria, profile, "--on", "2026-06-15").stdout.strip() == "false"
    profile.write_text(
        json.dumps({"answers": {"smoking_status": "sometimes", "shoe_size": 42, "phq9": 3, "falls_12m": -1}})
    )
    result = run("eval", criteria, profile)
    assert result.exit_code != 0
    for expected in (
        "answers.smoking_status: expected one of never, former, current",
        'answers.shoe_size: unknown question "shoe_size"',
        "answers.phq9: phq9 is scored from its items",
        "answers.falls_12m: expected a number from 0 to 365",
    ):
        assert expected in result.stderr, result.stderr
    profile.write_text(json.dumps({"smoker": True, "answers": {"smoking_status": "never"}}))
    assert "smoker: disagrees with answers.smoking_status (never)" in run("eval", criteria, profile).stderr


def test_eval_takes_the_study_sites_and_a_home(tmp_path: Path) -> None:
    criteria = tmp_path / "near.txt"
    criteria.write_text("distance_to_site_km <= 50 and region = DK")
    profile = tmp_path / "home.json"
    profile.write_text(json.dumps({"region": "DK-82", "home": {"place": "Aarhus, DK"}}))
    sites = tmp_path / "sites.json"
    sites.write_text(json.dumps([{"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}]))
    far = tmp_path / "far.json"
    far.write_text(json.dumps([{"name": "Rigshospitalet", "lat": 55.7, "lon": 12.57}]))
    assert run("eval", criteria, profile, "--sites", sites).stdout == "true\n"
    assert run("eval", criteria, profile, "--sites", far).stdout == "false\n"
    assert run("eval", criteria, profile).stdout == "unknown\n"  # no sites: no nearest site
    explained = run("explain", criteria, profile, "--sites", sites).stdout
    assert "you live about 4 km from the nearest site of the study" in explained


def test_bad_sites_and_homes_are_reported_with_their_path(tmp_path: Path) -> None:
    criteria = tmp_path / "near.txt"
    criteria.write_text("distance_to_site_km <= 50")
    profile = tmp_path / "home.json"
    profile.write_text(json.dumps({"home": {"place": "Atlantis, DK"}}))
    good_profile = tmp_path / "good.json"
    good_profile.write_text(json.dumps({"home": {"lat": 56.2, "lon": 10.2}}))
    sites = tmp_path / "sites.json"
    sites.write_text(json.dumps([{"name": "AUH", "lat": 96.19, "lon": 10.17}]))
    result = run("eval", criteria, good_profile, "--sites", sites)
    assert result.exit_code != 0 and "sites[0].lat: must be between -90 and 90" in result.stderr
    result = run("eval", criteria, profile)
    assert result.exit_code != 0 and "home.place: no town 'Atlantis, DK'" in result.stderr
