"""zpyro objects over HTTP + JSON: a broker, a daemon, and ``zpyro-gateway`` in front of them.

Calls go to ``http://HOST:PORT/pyro/<name>/<method>`` as with Pyro's HTTP gateway; this script
makes them with the standard library's ``urllib`` (a browser's ``fetch`` or ``curl`` works the
same) and prints the ``curl`` line for each. Open the printed URL in a browser while it runs
(``--linger``) to see the console. Needs the gateway extra: ``pip install 'zpyro[gateway]'``.
Everything runs on 127.0.0.1 with free ports and stops at the end.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request

from launch import HOST, Launcher

import zpyro


@zpyro.expose
class GreetingMaker:
    def get_fortune(self, name: str) -> str:
        return f"Hello, {name}. Here is your fortune message: behold the warranty."

    def add(self, a: int, b: int) -> int:
        return a + b

    def countdown(self, start: int):  # type: ignore[no-untyped-def]
        yield from range(int(start), 0, -1)

    def refuse(self) -> None:
        raise PermissionError("not today")


def get(url: str, body: dict | None = None) -> tuple[int, str, str]:
    """(status, content type, text) of a GET, or of a POST of `body` as JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as failed:
        return failed.code, failed.headers["Content-Type"], failed.read().decode()


def main() -> None:
    linger = "--linger" in sys.argv
    with Launcher() as launch:
        args = [
            sys.executable,
            "-m",
            "zpyro.broker",
            "--host",
            HOST,
            "--port",
            "0",
            "--pub-port",
            "0",
        ]
        broker = launch.start("broker", [*args, "--storage", "memory"])
        # READY PYRO:Pyro.NameServer@HOST:PORT pub=HOST:PUBPORT epoch=E storage=SPEC
        ready = broker.wait_for("READY ").split()
        ns_port, pub_port = ready[1].rsplit(":", 1)[1], ready[2].rsplit(":", 1)[1]

        daemon = zpyro.Daemon(host=HOST)
        uri = daemon.register(GreetingMaker(), "greeting")
        threading.Thread(target=daemon.request_loop, daemon=True).start()
        with zpyro.locate_ns(HOST, int(ns_port)) as ns:
            ns.register("http.greeting", uri)  # the default --expose pattern is http\.

        gateway = launch.start(
            "gateway",
            [sys.executable, "-m", "zpyro.gateway", "--host", HOST, "--port", "0",
             "--ns-host", HOST, "--ns-port", ns_port, "--ns-pub-port", pub_port],
            env={"ZPYRO_GATEWAY_KEY": ""},  # no key for this demonstration
        )  # fmt: skip
        base = gateway.wait_for("READY ", 30).split()[1]
        print(f"gateway ready: {base}")

        for url, body in (
            (f"{base}pyro/http.greeting/get_fortune?name=Irmen", None),
            (f"{base}pyro/http.greeting/add", {"args": [2, 3]}),
            (f"{base}pyro/http.greeting/$meta", None),
            (f"{base}pyro/http.greeting/countdown?start=3", None),
            (f"{base}pyro/http.greeting/refuse", None),
            (f"{base}pyro/Pyro.NameServer/list", None),
        ):
            data = (
                ""
                if body is None
                else f" -H 'Content-Type: application/json' -d '{json.dumps(body)}'"
            )
            print(f"$ curl{data} '{url}'")
            status, kind, text = get(url, body)
            if kind.startswith("application/x-ndjson"):
                text = " | ".join(text.splitlines())  # one JSON value per line
            elif status != 200:
                error = json.loads(text)
                text = f"{error['__class__']}: {error['args'][0]}"
            print(f"  {status} {text}")
        if linger:
            input(f"console at {base} -- press Enter to stop ")
        daemon.shutdown()
    print("stopped gateway, daemon and broker")


if __name__ == "__main__":
    main()
