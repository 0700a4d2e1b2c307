"""Run the name server greeting: a broker (the name server), server.py, then client.py.

Like Pyro's ``pyro4-ns`` + ``greeting.py`` + ``client.py`` in three consoles. The broker gets free
ports on 127.0.0.1, and ZPYRO_NS_HOST/ZPYRO_NS_PORT tell server and client where it is. At the
end the name server's list shows the name the server registered. Everything it starts it stops,
by pid.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # for examples/launch.py

from launch import HOST, Launcher  # noqa: E402

import zpyro  # noqa: E402


def main() -> int:
    with Launcher() as launch:
        broker, location = launch.broker()
        print(f"name server (pid {broker.pid}) at {location}")
        ns_host, ns_port = location.rsplit(":", 1)
        env = {"ZPYRO_NS_HOST": ns_host, "ZPYRO_NS_PORT": ns_port, "ZPYRO_HOST": HOST}
        server = launch.python("greeting server", HERE / "server.py", env=env)
        print(f"server (pid {server.pid}): {server.wait_for('Ready.')}")

        client = subprocess.run(
            [sys.executable, str(HERE / "client.py")],
            input="Irmen\n",
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=30,
        )
        print("client:", client.stdout.replace("? ", "?\n"), end="")
        if client.returncode != 0:
            print(client.stderr, file=sys.stderr)
            return client.returncode

        # what `pyro4-nsc list` shows (zpyro-nsc list does the same)
        with zpyro.locate_ns(ns_host, int(ns_port)) as ns:
            print("--------START LIST")
            for name, uri in sorted(ns.list().items()):
                print(f"{name} --> {uri}")
            print("--------END LIST")
    return 0


if __name__ == "__main__":
    sys.exit(main())
