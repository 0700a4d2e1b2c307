"""Keep a live copy of the name server's names with ``zpyro.NameWatcher``.

The broker publishes every change of its names (and a heartbeat) on its announcement port. A
``NameWatcher`` subscribes there, takes one snapshot from the name server, and from then on
follows the announcements: lookups in the copy cost no round trip, and ``on_event`` tells you of
each change as it happens. (``zpyro-nsc watch`` prints the same announcements.)

This example starts its own broker on free ports on 127.0.0.1 and stops it at the end.
"""

from __future__ import annotations

import sys
import threading

from launch import HOST, Launcher

import zpyro

SEEN_TIMEOUT = 10.0


def main() -> None:
    events: list[str] = []
    events_lock = threading.Lock()

    def on_event(ann):  # runs in the watcher's thread
        if ann.kind == "broker.alive":
            return  # the heartbeat: only interesting when the broker went away
        what = ann.body.get("uri", "")
        with events_lock:
            events.append(f"{ann.kind} {ann.body['name']}" + (f" -> {what}" if what else ""))

    with Launcher() as launch:
        args = [sys.executable, "-m", "zpyro.broker", "--host", HOST]
        args += ["--port", "0", "--pub-port", "0"]
        broker = launch.start("broker", [*args, "--storage", "memory"])
        # READY PYRO:Pyro.NameServer@HOST:PORT pub=HOST:PUBPORT epoch=E storage=SPEC
        ready = broker.wait_for("READY ").split()
        port = int(ready[1].rsplit(":", 1)[1])
        pub_port = int(ready[2].rsplit(":", 1)[1])
        print(f"broker ready: {ready[1]}, announcements on {HOST}:{pub_port}")

        with zpyro.NameWatcher(HOST, port, pub_port, on_event=on_event) as watcher:
            print(f"watcher synchronised: {', '.join(sorted(watcher.names()))}")

            ns = zpyro.locate_ns(HOST, port)
            ns.register("example.greeting", "PYRO:greeter@127.0.0.1:5001", metadata={"lang:en"})
            ns.register("example.weather", "PYRO:weather@127.0.0.1:5002")
            print("registered example.greeting and example.weather")
            if not watcher.wait_for(lambda names: "example.weather" in names, SEEN_TIMEOUT):
                raise RuntimeError("the watcher did not see the registrations")
            uri, tags = watcher.lookup("example.greeting", return_metadata=True)
            print(f"watcher lookup: example.greeting --> {uri} {sorted(tags)}")

            ns.remove("example.weather")
            print("removed example.weather")
            if not watcher.wait_for(lambda names: "example.weather" not in names, SEEN_TIMEOUT):
                raise RuntimeError("the watcher did not see the removal")
            print(f"watcher now holds: {', '.join(sorted(watcher.names()))}")
            ns._pyroRelease()

        with events_lock:
            for line in events:
                print(f"announced: {line}")


if __name__ == "__main__":
    main()
