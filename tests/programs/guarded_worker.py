"""A brokered daemon that validates handshakes (Pyro's validateHandshake), for tests.

usage: guarded_worker.py BROKER_ENDPOINT NAME SECRET
Prints ``READY <pid>`` once attached; then, as they happen, ``VALIDATED <pid> <data>``,
``REFUSED <pid> <data>``, ``DISCONNECT <pid> <n>`` (n: how many clients went so far) and
``CLOSED <pid> <resource>`` and ``NOTE <pid> <n>`` (a oneway call ran). Exits on SIGTERM or stdin EOF.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import zpyro

PID = os.getpid()
keep: dict[str, object] = {}  # tracked resources are held weakly: the service keeps them
gone = 0


def say(line: str) -> None:
    print(f"{line}", flush=True)


class Resource:
    def __init__(self, name: str) -> None:
        self.name = name

    def close(self) -> None:
        say(f"CLOSED {PID} {self.name}")


@zpyro.expose
@zpyro.behavior(instance_mode="single")
class Vault:
    def whoami(self) -> int:
        return PID

    @zpyro.oneway
    def note(self, n: int) -> None:
        say(f"NOTE {PID} {n}")

    def allocate_and_tell(self, name: str) -> int:
        """Track a resource for the calling client; which process holds it."""
        keep[name] = resource = Resource(name)
        zpyro.current_context.track_resource(resource)
        return PID


class GuardedDaemon(zpyro.Daemon):
    def __init__(self, broker: str, secret: str) -> None:
        super().__init__(broker=broker)
        self.secret = secret

    def validateHandshake(self, conn: object, data: object) -> object:  # noqa: N802
        if data != self.secret:
            say(f"REFUSED {PID} {data}")
            raise PermissionError(f"wrong secret: {data!r}")
        say(f"VALIDATED {PID} {data}")
        return {"welcome": PID}

    def clientDisconnect(self, conn: object) -> None:  # noqa: N802
        global gone
        gone += 1
        say(f"DISCONNECT {PID} {gone}")


def main() -> None:
    endpoint, name, secret = sys.argv[1:4]
    daemon = GuardedDaemon(endpoint, secret)
    daemon.register(Vault, name)
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
    threading.Thread(target=lambda: (sys.stdin.read(), daemon.shutdown()), daemon=True).start()
    loop = threading.Thread(target=daemon.request_loop)
    loop.start()
    if not daemon.wait_attached(30):
        sys.exit("not attached")
    say(f"READY {PID}")
    loop.join()
    daemon.close()


if __name__ == "__main__":
    main()
