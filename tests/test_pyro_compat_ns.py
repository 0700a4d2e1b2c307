"""The intro's name-server greeting (Pyro4 docs, "With a name server") runs with only its import
changed, against a real broker subprocess: ``Pyro4.locateNS()``, ``ns.register(...)`` and
``Pyro4.Proxy("PYRONAME:example.greeting")``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, ROOT, scaled

import zpyro

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

# The seed's two programs in Python 3 (print/raw_input), with `import Pyro4` -> `import zpyro as
# Pyro4` and nothing else changed. Its class is undecorated: the server runs with
# ZPYRO_REQUIRE_EXPOSE=0, as README says for old Pyro4 code.
SEED_SERVER = """\
# saved as greeting.py
import zpyro as Pyro4

class GreetingMaker(object):
    def get_fortune(self, name):
        return "Hello, {0}. Here is your fortune message:\\n" \\
               "Tomorrow's lucky number is 12345678.".format(name)

greeting_maker=GreetingMaker()

daemon=Pyro4.Daemon()                 # make a Pyro daemon
ns=Pyro4.locateNS()                   # find the name server
uri=daemon.register(greeting_maker)   # register the greeting object as a Pyro object
ns.register("example.greeting", uri)  # register the object with a name in the name server

print("Ready.")
daemon.requestLoop()                  # start the event loop of the server to wait for calls
"""

SEED_CLIENT = """\
# saved as client.py
import zpyro as Pyro4

name=input("What is your name? ").strip()

greeting_maker=Pyro4.Proxy("PYRONAME:example.greeting")    # use name server object lookup uri shortcut
print(greeting_maker.get_fortune(name))
"""

EXPECTED = (
    "What is your name? Hello, Irmen. Here is your fortune message:\n"
    "Tomorrow's lucky number is 12345678.\n"
)


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    (tmp_path / "greeting.py").write_text(SEED_SERVER)
    (tmp_path / "client.py").write_text(SEED_CLIENT)
    return tmp_path


def ns_env(host: str, port: int) -> dict[str, str]:
    """Where the seed's locateNS()/PYRONAME: look, and the loopback address for its Daemon()."""
    return {"ZPYRO_NS_HOST": host, "ZPYRO_NS_PORT": str(port), "ZPYRO_HOST": "127.0.0.1"}


def start_server(spawn: Any, programs: Path, env: dict[str, str]) -> Any:
    server = spawn([PYTHON, str(programs / "greeting.py")], {**env, "ZPYRO_REQUIRE_EXPOSE": "0"})
    server.wait_for("Ready.")
    return server


def run_client(programs: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    full_env.pop("ZPYRO_REQUIRE_EXPOSE", None)
    return subprocess.run(
        [PYTHON, str(programs / "client.py")],
        input="Irmen\n",
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(programs),
        timeout=scaled(30),
    )


def test_seed_nameserver_greeting_end_to_end(broker: Any, spawn: Any, programs: Path) -> None:
    env = ns_env(broker.host, broker.port)
    start_server(spawn, programs, env)
    # the server registered its direct daemon's URI by name (what `pyro4-nsc list` would show)
    ns = zpyro.locate_ns(broker.host, broker.port)
    names = ns.list()
    assert names["Pyro.NameServer"] == f"PYRO:Pyro.NameServer@{broker.location}"
    uri = zpyro.URI(names["example.greeting"])
    assert uri.object.startswith("obj_") and uri.host == "127.0.0.1" and uri.port != broker.port
    ns._pyroRelease()

    result = run_client(programs, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED
    assert result.stderr == ""


def test_a_restarted_server_is_found_at_its_new_address(
    broker: Any, spawn: Any, programs: Path
) -> None:
    """The point of the name server: the client never sees the object's real, changing URI."""
    env = ns_env(broker.host, broker.port)
    ns = zpyro.locate_ns(broker.host, broker.port)
    first = start_server(spawn, programs, env)
    old = ns.lookup("example.greeting")
    assert run_client(programs, env).stdout == EXPECTED
    first.stop()
    start_server(spawn, programs, env)
    new = ns.lookup("example.greeting")
    assert new != old  # another random object id and port
    assert run_client(programs, env).stdout == EXPECTED
    ns._pyroRelease()


def test_without_a_name_server_the_client_fails_with_naming_error(
    start_broker: Any, programs: Path
) -> None:
    gone = start_broker()
    gone.stop()  # a port where no name server listens any more
    env = {**ns_env(gone.host, gone.port), "ZPYRO_CONNECT_TIMEOUT": "1.0"}
    result = run_client(programs, env)
    assert result.returncode != 0
    assert "NamingError" in result.stderr and "failed to locate the name server" in result.stderr
