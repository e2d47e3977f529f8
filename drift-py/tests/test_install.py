"""`pip install drift` from the built wheel, into a fresh virtualenv whose
PATH has no cargo or rustc, gives a package that runs a server, the
README's Python examples and the `drift` command.

Uses the directory named by DRIFT_TEST_DIST (run.sh builds the wheel and
sdist there once, with `maturin build --release` and `maturin sdist`);
without it they are built here, which takes minutes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

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

# A wheel that carries debug info again would be several times this.
MAX_WHEEL_BYTES = 20 << 20


def _run(args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _dist(tmp_path: Path) -> Path:
    given = os.environ.get("DRIFT_TEST_DIST")
    if given:
        return Path(given)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "maturin", "build", "--release", "--out", str(dist)], REPO, 1700)
    _run([sys.executable, "-m", "maturin", "sdist", "--out", str(dist)], REPO, 300)
    return dist


def _without_rust() -> str:
    """This PATH without any directory that holds cargo or rustc."""
    dirs = [
        d for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any(os.path.exists(os.path.join(d, tool)) for tool in ("cargo", "rustc"))
    ]
    return os.pathsep.join(dirs)


@pytest.mark.timeout(1800)
def test_the_wheel_and_sdist_are_what_users_install(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    (wheel,) = dist.glob("drift-*.whl")
    (sdist,) = dist.glob("drift-*.tar.gz")
    assert "-cp39-abi3-manylinux" in wheel.name, f"not a manylinux abi3 wheel: {wheel.name}"
    size = wheel.stat().st_size
    print(f"wheel {wheel.name}: {size / 2**20:.1f} MiB")
    assert size < MAX_WHEEL_BYTES, f"{wheel.name} is {size} bytes"
    names = zipfile.ZipFile(wheel).namelist()
    for part in ["drift/py.typed", "drift/_drift.pyi", "LICENSE-MIT", "LICENSE-APACHE"]:
        assert any(n.endswith(part) for n in names), f"{part} is not in {wheel.name}: {names}"
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
    for part in ["pyproject.toml", "drift-core/src/lib.rs", "drift-py/src/lib.rs", "LICENSE-MIT"]:
        assert any(m.endswith(part) for m in members), f"{part} is not in {sdist.name}"


def _readme_install_command() -> str:
    """The shell block of the README's Python section: its install command."""
    section = README.read_text(encoding="utf-8").split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert block.strip().startswith("pip install"), block
    return block


@pytest.mark.timeout(1800)
def test_pip_install_drift_by_name_into_a_fresh_virtualenv(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 300)
    py = venv / "bin" / "python"
    env = dict(os.environ, PATH=os.pathsep.join([str(venv / "bin"), _without_rust()]))
    env.pop("VIRTUAL_ENV", None)
    assert shutil.which("cargo", path=env["PATH"]) is None
    assert shutil.which("rustc", path=env["PATH"]) is None
    # The README's install command as written: `pip` is the virtualenv's
    # (first on PATH), `dist` the built wheel and sdist.
    if not (tmp_path / "dist").exists():
        (tmp_path / "dist").symlink_to(dist.resolve(), target_is_directory=True)
    install = _readme_install_command()
    _run(["bash", "-ec", install], tmp_path, 300,
         dict(env, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_QUIET="1"))
    _run([str(py), "-c", "import drift"], tmp_path, 60, env)

    # Run from an empty directory so that only the installed package is seen.
    work = tmp_path / "work"
    work.mkdir()
    out = _run([str(py), "-c", SCRIPT], work, 120, env)
    assert out.strip().endswith("it works")
    version = _run([str(venv / "bin" / "drift"), "--version"], work, 60, env)
    assert version.startswith("drift ")

    examples = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(examples) >= 2
    for i, source in enumerate(examples):
        script = work / f"example{i}.py"
        script.write_text(source, encoding="utf-8")
        printed = _run([str(py), str(script)], work, 60, env)
        assert printed.strip(), f"README example {i} printed nothing"
