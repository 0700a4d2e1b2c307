"""The README's porting table names every Pyro4 and Pyro5 API and config item.

The names are read from the real packages by ``tests/pyro_names/dump.py``: Pyro5 is in the
test extra (installed with the venv); Pyro4 4.82 is used when there is one (``$PYRO4_PYTHON``
or /tmp/pyro-venv, as for the corpus), else that half is skipped. A name counts as listed when
it appears in the section "Porting from Pyro4/Pyro5" as a word of its own -- the row then says
what zpyro does with it (same, mapped, or refused with the reason).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, scaled

pytestmark = pytest.mark.timeout(60)

DUMP = Path(__file__).resolve().parent / "pyro_names" / "dump.py"
PYRO4_PYTHON = os.environ.get("PYRO4_PYTHON", "/tmp/pyro-venv/bin/python")

# Public names of the Pyro modules that are not part of their documented API: module internals
# (constants of their socket layer, helpers of their serializers, their own loggers).
NOT_API = {
    "ERRNO_BADF", "ERRNO_EADDRINUSE", "ERRNO_EADDRNOTAVAIL", "ERRNO_ENOTSOCK", "ERRNO_RETRIES",
    "family_str", "fixIronPythonExceptionForPickle", "getAttribute", "pyro_class_serpent_serializer",
    "serialize_core_object_to_dict", "log_wiredata", "recv_stub", "_pyroExposed", "uriRegEx",
}  # fmt: skip


def porting_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Porting from Pyro4/Pyro5", 1)[1].split("\n## ", 1)[0]


def pyro_names(python: str, which: str) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYRO_", "ZPYRO_"))}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [python, str(DUMP), which],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env=env,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    names: dict[str, list[str]] = json.loads(done.stdout)
    return names


def unlisted(names: dict[str, list[str]]) -> list[str]:
    section = porting_section()
    missing = []
    for group, members in sorted(names.items()):
        for name in members:
            if name in NOT_API:
                continue
            if not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", section):
                missing.append(f"{group}: {name}")
    return missing


def test_every_pyro5_name_is_in_the_porting_table() -> None:
    missing = unlisted(pyro_names(sys.executable, "Pyro5"))
    assert not missing, "not in the porting table:\n" + "\n".join(missing)


def test_every_pyro4_name_is_in_the_porting_table() -> None:
    if not os.access(PYRO4_PYTHON, os.X_OK):
        pytest.skip(f"no Pyro4 at {PYRO4_PYTHON}")
    probe = subprocess.run([PYRO4_PYTHON, "-c", "import Pyro4"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"no Pyro4 at {PYRO4_PYTHON}")
    missing = unlisted(pyro_names(PYRO4_PYTHON, "Pyro4"))
    assert not missing, "not in the porting table:\n" + "\n".join(missing)


def test_the_check_finds_what_is_missing() -> None:
    """Not a vacuous pass: a name the table does not have is reported."""
    assert unlisted({"made.up": ["noSuchPyroName", "expose"]}) == ["made.up: noSuchPyroName"]
