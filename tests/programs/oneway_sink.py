"""A daemon in its own process that counts the oneway calls it ran, for the flow-control tests.

usage: oneway_sink.py direct             (a direct daemon on 127.0.0.1, default settings)
       oneway_sink.py BROKER_ENDPOINT CAPACITY   (a brokered daemon serving the pool "sink")

Serves ``sink`` (single instance): oneway ``work(seconds)`` sleeps that long and counts one run,
``ran()`` tells the count. Prints ``READY <uri>`` once serving (brokered: once attached); exits
on SIGTERM or stdin EOF.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import zpyro


@zpyro.expose
@zpyro.behavior(instance_mode="single")
class Sink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ran = 0

    @zpyro.oneway
    def work(self, seconds: float) -> None:
        time.sleep(seconds)
        with self._lock:
            self._ran += 1

    def ran(self) -> int:
        with self._lock:
            return self._ran


def main() -> None:
    if sys.argv[1] == "direct":
        daemon = zpyro.Daemon(host="127.0.0.1")
    else:
        daemon = zpyro.Daemon(broker=sys.argv[1], capacity=int(sys.argv[2]))
    uri = daemon.register(Sink, "sink")
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
    threading.Thread(target=lambda: (sys.stdin.read(), daemon.shutdown()), daemon=True).start()
    loop = threading.Thread(target=daemon.request_loop)
    loop.start()
    if daemon._link is not None and not daemon.wait_attached(30):
        print("NOT ATTACHED", flush=True)
        daemon.shutdown()
    else:
        print(f"READY {uri}", flush=True)
    loop.join()
    daemon.close()


if __name__ == "__main__":
    main()
