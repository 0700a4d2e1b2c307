"""Serializers: per proxy (_pyroSerializer) or for all new proxies (config.SERIALIZER); a daemon
accepts config.SERIALIZERS_ACCEPTED (changed in place with .add, or replaced) and refuses others;
serpent turns a datetime into its text."""

import datetime
import signal
import threading

import Pyro4
import Pyro4.errors


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Echo(object):
    def echo(self, value):
        return value

    def serializer_id(self):
        return Pyro4.current_context.serializer_id

    def now(self):
        return datetime.datetime(2024, 1, 2, 3, 4, 5)


Pyro4.config.SERIALIZERS_ACCEPTED.update({"marshal", "pickle"})  # explicit: not for strangers
daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Echo(), "example.echo")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
Pyro4.config.SERIALIZERS_ACCEPTED = {"serpent"}
strict = Pyro4.Daemon(host="127.0.0.1")
strict_uri = strict.register(Echo(), "example.strict")
threading.Thread(target=strict.requestLoop, daemon=True).start()
try:
    data = {"numbers": [1, 2, 3], "text": "hello", "nested": {"pi": 3.14}}
    ids = set()
    for name in ("serpent", "json", "marshal", "pickle"):
        with Pyro4.Proxy(uri) as echo:
            echo._pyroSerializer = name
            assert echo.echo(data) == data, name
            ids.add(echo.serializer_id())
    assert len(ids) == 4, ids

    with Pyro4.Proxy(uri) as echo:
        assert echo.now() == "2024-01-02T03:04:05"  # serpent: datetimes travel as text
    Pyro4.config.SERIALIZER = "pickle"
    with Pyro4.Proxy(uri) as echo:
        assert echo.now() == datetime.datetime(2024, 1, 2, 3, 4, 5)
    Pyro4.config.SERIALIZER = "serpent"

    with Pyro4.Proxy(strict_uri) as echo:
        assert echo.echo(1) == 1
        echo._pyroRelease()
        echo._pyroSerializer = "json"
        try:
            echo.echo(2)
            raise SystemExit("a daemon accepted a serializer it was told to refuse")
        except Pyro4.errors.PyroError as x:
            print("refused:", x)
finally:
    daemon.shutdown()
    strict.shutdown()
print("OK")
