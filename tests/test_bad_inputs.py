"""The bad-input corpus (tests/bad_inputs.py): every case is one line that says what was
wrong, exit 2, no traceback, and no run folder that looks finished or holds a temp file."""

import json

import pytest

from bad_inputs import CASES, argv_of, make_files, make_runs


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-inputs")
    make_files(tmp)
    return {"tmp": str(tmp), **make_runs(tmp)}


def test_the_corpus_has_at_least_60_distinct_cases():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)
    assert len({tuple(case[2]) for case in CASES}) == len(CASES)


@pytest.mark.one_backend
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_a_bad_input_is_one_line_and_exit_2(case, places, run_cli, tmp_path):
    argv = argv_of(case, places)
    out = tmp_path / "out"
    if argv[0] not in ("predict", "report", "data") and "--out" not in argv:
        argv += ["--out", str(out)]
    code, _, err = run_cli(*argv)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("kerasdl: error: "), err
    assert case[3] in lines[-1]
    # Only the run's own header line may come before it (a failure found once the run began).
    assert len(lines) == 1 or (len(lines) == 2 and lines[0].startswith(f"kerasdl {argv[0]}: backend")), err
    # Nothing that looks like a result is left behind.
    for status in out.glob("*/*/status.json"):
        assert json.loads(status.read_text())["status"] == "failed"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
