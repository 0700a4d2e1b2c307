"""One shop server of session_pool.py: a brokered daemon serving ``shop.cart`` in session mode
(started by session_pool.py, not meant to be run alone).

usage: cart_worker.py BROKER_ENDPOINT WORKER_NAME

Prints ``READY WORKER_NAME PID`` once the broker has taken it; stops on SIGTERM or when its
stdin closes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import zpyro

NAME = sys.argv[2] if len(sys.argv) > 2 else "worker"


@zpyro.expose
@zpyro.behavior(instance_mode="session")  # one cart per connected proxy
class Cart:
    def __init__(self) -> None:
        self.contents: list[str] = []

    def add(self, item: str) -> str:
        self.contents.append(item)
        return NAME  # which server holds this cart

    def items(self) -> list[str]:
        return list(self.contents)


def main() -> None:
    daemon = zpyro.Daemon(broker=sys.argv[1], capacity=2)
    daemon.register(Cart, "shop.cart")  # the same name in every worker: one pool
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: daemon.shutdown())
    threading.Thread(target=lambda: (sys.stdin.read(), daemon.shutdown()), daemon=True).start()
    loop = threading.Thread(target=daemon.request_loop)
    loop.start()
    if daemon.wait_attached(15):
        print(f"READY {NAME} {os.getpid()}", flush=True)
    else:
        print(f"NOT ATTACHED {NAME}", flush=True)
        daemon.shutdown()
    loop.join()
    daemon.close()


if __name__ == "__main__":
    main()
