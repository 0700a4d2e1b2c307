"""Find objects by what they are, not by their name: metadata tags and ``PYROMETA:`` URIs.

Objects are registered in the name server with a set of tags (any strings; ``key:value`` is a
handy habit). ``PYROMETA:tag1,tag2`` then means "any object that carries all of these tags",
resolved by the name server each time a proxy connects. This example starts its own broker
(the name server) on free ports on 127.0.0.1 and stops it at the end.
"""

from __future__ import annotations

import threading
import time

from launch import HOST, Launcher

import zpyro


@zpyro.expose
class Printer:
    def __init__(self, name: str) -> None:
        self.name = name

    def print_page(self, text: str) -> str:
        return f"{self.name} printed {text!r}"


# name -> tags; these three are served by a brokered daemon, which names them in the name server
PRINTERS = {
    "printer.office.laser": {"kind:printer", "region:eu", "color:no"},
    "printer.office.color": {"kind:printer", "region:eu", "color:yes"},
    "printer.lab.color": {"kind:printer", "region:us", "color:yes"},
}


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the name server did not get every name in time")
        time.sleep(0.02)


def serve(daemon: zpyro.Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.request_loop, daemon=True)
    thread.start()
    return thread


def main() -> None:
    with Launcher() as launch:
        _broker, location = launch.broker()
        host, port = location.rsplit(":", 1)
        ns = zpyro.locate_ns(host, int(port))

        # a brokered daemon: register(obj, name, metadata=tags) puts name and tags in the name server
        brokered = zpyro.Daemon(broker=f"tcp://{location}")
        for name, tags in PRINTERS.items():
            brokered.register(Printer(name), name, metadata=tags)
        # a direct daemon, registered by hand, the Pyro way
        direct = zpyro.Daemon(host=HOST)
        uri = direct.register(Printer("scanner.lab"))
        ns.register("scanner.lab", uri, metadata={"kind:scanner", "region:us"})
        threads = [serve(brokered), serve(direct)]
        try:
            wait_until(lambda: len(ns.list(prefix="printer.")) == len(PRINTERS))

            print("colour printers:", sorted(ns.list(metadata_all=["kind:printer", "color:yes"])))
            print("anything in the us:", sorted(ns.list(metadata_any=["region:us"])))
            found, tags = ns.lookup("printer.office.laser", return_metadata=True)
            print(f"printer.office.laser is {found} with tags {sorted(tags)}")

            # a proxy by tags: the name server picks an object that carries all of them
            with zpyro.Proxy(f"PYROMETA:kind:printer,region:us,color:yes@{location}") as printer:
                print("PYROMETA us colour printer:", printer.print_page("holiday photos"))
            with zpyro.Proxy(f"PYROMETA:region:eu@{location}") as printer:
                print("PYROMETA any eu printer:", printer.print_page("invoice"))
            with zpyro.Proxy(f"PYROMETA:kind:scanner@{location}") as scanner:
                print("PYROMETA scanner:", scanner.print_page("receipt"))

            # tags can change later; the next lookup sees the new ones
            ns.set_metadata("scanner.lab", {"kind:scanner", "region:us", "status:broken"})
            print("broken devices:", sorted(ns.list(metadata_all=["status:broken"])))

            try:
                zpyro.Proxy(f"PYROMETA:kind:plotter@{location}").print_page("map")
            except zpyro.errors.NamingError as exc:
                print("PYROMETA plotter: NamingError:", exc)
        finally:
            ns._pyroRelease()
            for daemon in (brokered, direct):
                daemon.shutdown()
            for thread in threads:
                thread.join(5)
            brokered.close()
            direct.close()


if __name__ == "__main__":
    main()
