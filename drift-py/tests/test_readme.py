"""The Python examples of the repository's README.md run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
PACKAGE_README = REPO / "drift-py" / "README.md"


def test_readme_has_python_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("source", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(source: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(source, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the example printed nothing"


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """Both READMEs' Python examples type-check against the stubs, as a
    user's `mypy --strict` sees them."""
    files = []
    for readme in [README, PACKAGE_README]:
        found = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
        assert found, f"no Python examples in {readme}"
        for i, source in enumerate(found):
            f = tmp_path / f"{readme.parent.name}_example{i}.py"
            f.write_text(source, encoding="utf-8")
            files.append(str(f))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
