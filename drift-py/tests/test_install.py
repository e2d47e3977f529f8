"""`pip install` of the package into a fresh virtualenv works, and the
installed package runs a server and round-trips a message.

Installs the wheel named by DRIFT_TEST_WHEEL (run.sh builds it once with
`pip wheel .`, the same build as `pip install .`); without it the wheel is
built here from the repository, which takes minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import drift

    with drift.Server() as server:
        client = drift.Client(server.url, cafile=server.ca_cert_path)
        with client.subscribe("install-check") as sub:
            sent = client.publish("install-check", "it works")
            got = next(sub)
        assert got.id == sent and got.text == "it works", got
        print(drift.__version__, got.text)
    """
)


def _run(args: list[str], cwd: Path, timeout: float) -> str:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.mark.timeout(1800)
def test_pip_install_into_fresh_virtualenv(tmp_path: Path) -> None:
    wheel = os.environ.get("DRIFT_TEST_WHEEL")
    if not wheel:
        wheels = tmp_path / "wheels"
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(REPO)],
            tmp_path,
            1700,
        )
        (built,) = wheels.glob("drift-*.whl")
        wheel = str(built)
    name = Path(wheel).name
    assert "-cp39-abi3-" in name, f"not an abi3 wheel for CPython >= 3.9: {name}"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 300)
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "--quiet", "--no-index", wheel], tmp_path, 300)

    # Run from an empty directory so that only the installed package is seen.
    work = tmp_path / "work"
    work.mkdir()
    out = _run([str(py), "-c", SCRIPT], work, 120)
    assert out.strip().endswith("it works")
    version = _run([str(venv / "bin" / "drift"), "--version"], work, 60)
    assert version.startswith("drift ")
    typed = _run(
        [str(py), "-c", "import drift, pathlib; print(pathlib.Path(drift.__file__).parent)"],
        work,
        60,
    )
    package = Path(typed.strip())
    assert (package / "py.typed").exists()
    assert (package / "_drift.pyi").exists()
