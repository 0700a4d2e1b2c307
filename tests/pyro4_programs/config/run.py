"""Configuration as Pyro4 programs set it (Pyro4 manual, "Configuring Pyro"): items assigned in
code, PYRO_* environment variables, config.reset(), asDict(), dump(), and
python -m Pyro4.configuration."""

import os
import signal
import subprocess
import sys
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

# what the top of a typical Pyro4 server or client looks like
Pyro4.config.HOST = "127.0.0.1"
Pyro4.config.SERIALIZER = "serpent"
Pyro4.config.SERIALIZERS_ACCEPTED = {"serpent", "json"}
Pyro4.config.COMMTIMEOUT = 10.0
Pyro4.config.POLLTIMEOUT = 1.0
Pyro4.config.SERVERTYPE = "thread"
Pyro4.config.THREADPOOL_SIZE = 16
Pyro4.config.THREADPOOL_SIZE_MIN = 2
Pyro4.config.ONEWAY_THREADED = True
Pyro4.config.COMPRESSION = True
Pyro4.config.DETAILED_TRACEBACK = False
Pyro4.config.MAX_RETRIES = 0
Pyro4.config.MAX_MESSAGE_SIZE = 0
Pyro4.config.REQUIRE_EXPOSE = True
Pyro4.config.ITER_STREAMING = True
Pyro4.config.ITER_STREAM_LINGER = 10.0
Pyro4.config.SOCK_REUSE = True
Pyro4.config.NS_HOST = "127.0.0.1"


@Pyro4.expose
class Echo(object):
    def echo(self, value):
        return value


daemon = Pyro4.Daemon()  # config.HOST
uri = daemon.register(Echo(), "example.echo")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    assert uri.host == "127.0.0.1"
    with Pyro4.Proxy(uri) as echo:
        assert echo._pyroTimeout == 10.0
        big = "compressible " * 100000
        assert echo.echo(big) == big
finally:
    daemon.shutdown()

settings = Pyro4.config.asDict()
for item in (
    "HOST",
    "NS_HOST",
    "NS_PORT",
    "COMMTIMEOUT",
    "SERIALIZER",
    "SERIALIZERS_ACCEPTED",
    "THREADPOOL_SIZE",
    "MAX_MESSAGE_SIZE",
    "REQUIRE_EXPOSE",
    "ITER_STREAMING",
):
    assert item in settings, item
assert settings["THREADPOOL_SIZE"] == 16
assert "THREADPOOL_SIZE = 16" in Pyro4.config.dump().splitlines()
Pyro4.config.reset(useenvironment=False)
assert Pyro4.config.COMMTIMEOUT == 0.0 and Pyro4.config.HOST == "localhost"
assert Pyro4.config.NS_PORT == 9090 and Pyro4.config.SERIALIZER == "serpent"

child = subprocess.run(
    [
        sys.executable,
        "-c",
        "import Pyro4; c = Pyro4.config; print(c.COMMTIMEOUT, c.SERIALIZER,"
        " c.NS_PORT, c.REQUIRE_EXPOSE, sorted(c.SERIALIZERS_ACCEPTED))",
    ],
    capture_output=True,
    text=True,
    timeout=30,
    env=dict(
        os.environ,
        PYRO_COMMTIMEOUT="2.5",
        PYRO_SERIALIZER="json",
        PYRO_NS_PORT="9999",
        PYRO_REQUIRE_EXPOSE="false",
        PYRO_SERIALIZERS_ACCEPTED="json,serpent",
    ),
)
assert child.stdout.strip().split(None, 4) == [
    "2.5",
    "json",
    "9999",
    "False",
    "['json', 'serpent']",
], (
    child.stdout,
    child.stderr,
)

dump = subprocess.run(
    [sys.executable, "-m", "Pyro4.configuration"], capture_output=True, text=True, timeout=30
)
assert dump.returncode == 0 and "SERIALIZER = serpent" in dump.stdout.splitlines(), dump
print("OK")
