"""How zpyro installs: the broker inside zpyro's namespace (``zpyro.broker``), no top-level
``broker`` package, and ``python -m zpyro.broker`` unaffected by a ``broker/`` folder nearby."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, scaled

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(scaled(240)))]

# what a build reads: the metadata, the README (long_description) and the two package folders
SOURCES = ["setup.cfg", "setup.py", "pyproject.toml", "README.md", "zpyro", "broker"]


def clean_env() -> dict[str, str]:
    """This process's environment without PYTHONPATH: only what is installed is importable."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run(args: list[str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=scaled(timeout)
    )


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The file list of a wheel built (offline, with this venv's setuptools) from a copy of the
    tree, so the build leaves nothing behind in the worktree."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    build = [PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    done = run([*build, "--disable-pip-version-check", "-q", "-w", str(out), str(src)], src, 180)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("zpyro-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        yield zf.namelist()


def test_the_wheel_holds_the_broker_as_zpyro_broker(wheel_names: list[str]) -> None:
    broker_modules = sorted(p.name for p in (ROOT / "broker").glob("*.py"))
    assert "service.py" in broker_modules  # the glob found the real folder
    for module in broker_modules:
        assert f"zpyro/broker/{module}" in wheel_names
    for module in sorted(p.name for p in (ROOT / "zpyro").glob("*.py")):
        assert f"zpyro/{module}" in wheel_names  # setup.cfg lists packages by hand: none missed
    assert "zpyro/py.typed" in wheel_names
    # the C accelerator, compiled with this machine's compiler (no zmq.h, nothing linked)
    assert [n for n in wheel_names if n.startswith("zpyro/_speedups.") and n.endswith(".so")]


def test_the_wheel_holds_the_gateway_with_its_console(wheel_names: list[str]) -> None:
    modules = sorted(p.name for p in (ROOT / "zpyro" / "gateway").glob("*.py"))
    assert "app.py" in modules
    for module in modules:
        assert f"zpyro/gateway/{module}" in wheel_names
    for page in ("console.html", "console.js", "console.css"):  # package_data: the page itself
        assert f"zpyro/gateway/static/{page}" in wheel_names


def test_the_wheel_has_no_top_level_broker(wheel_names: list[str]) -> None:
    top = {name.split("/", 1)[0] for name in wheel_names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"zpyro"}, sorted(top)


def test_the_console_script_points_into_zpyro(tmp_path: Path) -> None:
    script = Path(PYTHON).parent / "zpyro-broker"
    assert script.exists(), "zpyro-broker is not installed next to this Python"
    done = run([str(script), "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: zpyro-broker")


def test_no_top_level_broker_is_importable_once_installed(tmp_path: Path) -> None:
    check = "import importlib.util as u; print(u.find_spec('broker'), u.find_spec('zpyro.broker'))"
    done = run([PYTHON, "-c", check], tmp_path)
    assert done.returncode == 0, done.stderr
    unrelated, ours = done.stdout.split(" ", 1)
    assert unrelated == "None"
    assert "zpyro.broker" in ours


def test_python_m_zpyro_broker_is_not_shadowed_by_a_broker_folder(tmp_path: Path) -> None:
    """The old spelling, ``python -m broker``, ran whatever ``broker/`` the current directory
    holds; ``python -m zpyro.broker`` runs ours."""
    other = tmp_path / "broker"
    other.mkdir()
    (other / "__init__.py").write_text("")
    (other / "__main__.py").write_text("print('an unrelated broker')\n")
    shadowed = run([PYTHON, "-m", "broker"], tmp_path)
    assert shadowed.stdout == "an unrelated broker\n"  # the folder does shadow a bare `broker`
    done = run([PYTHON, "-m", "zpyro.broker", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: zpyro-broker")
    assert "unrelated" not in done.stdout + done.stderr
