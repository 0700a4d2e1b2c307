"""Run the greeting example (Pyro's intro, direct mode): start server.py, feed client.py the uri
it printed and a name, stop the server. Everything it starts it stops, by pid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # for examples/launch.py

from launch import HOST, Launcher  # noqa: E402


def main() -> int:
    with Launcher(env={"ZPYRO_HOST": HOST}) as launch:  # the daemon binds the loopback address
        server = launch.python("greeting server", HERE / "server.py")
        line = server.wait_for("Ready. Object uri =")
        print(f"server (pid {server.pid}): {line}")
        uri = line.split("=", 1)[1].strip()
        client = subprocess.run(
            [sys.executable, str(HERE / "client.py")],
            input=f"{uri}\nIrmen\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        print("client:", client.stdout.replace("? ", "?\n"), end="")
        if client.returncode != 0:
            print(client.stderr, file=sys.stderr)
        return client.returncode


if __name__ == "__main__":
    sys.exit(main())
