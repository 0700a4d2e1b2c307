"""A name server inside your own program (Pyro's startNS), and the name-server topics: metadata
tags (``type_meta``, ``yplookup``, ``PYROMETA:``), a lookup that waits for a name to appear
(``delay_time``), and the name server's own class tag.

``zpyro.start_ns()`` starts the broker itself in this process -- pools, announcements and all --
and returns it unserved: here a thread serves it with ``request_loop()``; your own ``select``
loop could use ``sockets``/``events()`` instead. Nothing broadcasts: clients find it by host
and port.
"""

import threading
import time

import zpyro


@zpyro.expose
class Printer:
    def __init__(self, name):
        self.name = name

    def print_(self, text):
        return f"{self.name} printed {text!r}"


class LaserPrinter(Printer):
    pass


def main():
    ns_uri, ns_daemon, _ = zpyro.start_ns(host="127.0.0.1", port=0)  # port 0: a free one
    ns_thread = threading.Thread(target=ns_daemon.request_loop)
    ns_thread.start()
    print(f"name server running at {ns_uri}")
    daemon = zpyro.Daemon(host="127.0.0.1")
    serving = threading.Thread(target=daemon.request_loop)
    serving.start()
    try:
        with zpyro.locate_ns(ns_uri.host, ns_uri.port) as ns:
            own = ns.list(metadata_all={"class:Pyro4.naming.NameServer"})
            print(f"found by its class tag: {list(own)}")

            laser = LaserPrinter("office laser")
            tags = zpyro.type_meta(laser) | {"region:eu"}
            ns.register("printer.office", daemon.register(laser), metadata=tags)
            ns.register(
                "printer.lab",
                daemon.register(Printer("lab inkjet")),
                metadata=zpyro.type_meta(Printer) | {"region:us"},
            )
            print(f"printer.office tags: {sorted(tags)}")
            every = ns.yplookup(meta_all={"class:__main__.Printer"}, return_metadata=False)
            print(f"every Printer: {sorted(every)}")
            lasers = ns.list(metadata_all={"class:__main__.LaserPrinter"})
            print(f"lasers only: {sorted(lasers)}")
            at = f"@{ns_uri.host}:{ns_uri.port}"
            with zpyro.Proxy(f"PYROMETA:region:us{at}") as us_printer:
                print(f"PYROMETA:region:us -> {us_printer.print_('a poster')}")

            # a client that starts before its server: its lookup waits for the name
            answers = []

            def early_client():
                started = time.monotonic()
                uri = ns.lookup("printer.latecomer", delay_time=10)  # held by the name server
                answers.append((uri, time.monotonic() - started))

            client = threading.Thread(target=early_client)
            client.start()
            time.sleep(0.5)  # the server takes its time to come up
            late_uri = daemon.register(Printer("late printer"), "printer.late")
            ns_daemon.nameserver.register("printer.latecomer", late_uri)  # (the NS object itself)
            client.join(10)
            uri, waited = answers[0]
            print(f"the early client waited {waited:.1f} s for {uri}")
            with zpyro.Proxy(f"PYRONAME:printer.latecomer{at}") as late:
                print(f"PYRONAME:printer.latecomer -> {late.print_('at last')}")
    finally:
        daemon.shutdown()
        serving.join(10)
        daemon.close()
        ns_daemon.shutdown()
        ns_thread.join(10)
        ns_daemon.close()
    print("name server stopped")


if __name__ == "__main__":
    main()
