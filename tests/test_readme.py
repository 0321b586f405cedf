"""The README's commands are the ones CI runs, and its task table lists every task."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Set up, run, test\s+```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(line for line in _setup_commands() if "pytest" in line)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci], (
        f".ci/run must run the README's test command word for word: {test_command}")


def test_the_readme_task_table_lists_every_task():
    from kerasdl import tasks

    text = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.M))
    assert set(tasks.available()) <= listed, set(tasks.available()) - listed
