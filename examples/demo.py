"""`make demo`: start the greeting server, run the client against it, stop the server.

Everything it starts it stops, by pid, also when something fails.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
READY_TIMEOUT = 15.0


def main() -> int:
    server = subprocess.Popen(
        [sys.executable, "-u", str(HERE / "greeting" / "server.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in server.stdout], daemon=True).start()
    try:
        try:
            line = lines.get(timeout=READY_TIMEOUT)
        except queue.Empty:
            print("demo: the server did not become ready", file=sys.stderr)
            return 1
        print(f"server (pid {server.pid}): {line.strip()}")
        uri = line.split("=", 1)[1].strip()
        client = subprocess.run(
            [sys.executable, str(HERE / "greeting" / "client.py")],
            input=f"{uri}\nIrmen\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        print("client:", client.stdout.replace("? ", "?\n"), end="")
        if client.returncode != 0:
            print(client.stderr, file=sys.stderr)
            return client.returncode
        return 0
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        print(f"server (pid {server.pid}) stopped")


if __name__ == "__main__":
    sys.exit(main())
