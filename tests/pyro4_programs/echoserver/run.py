"""Pyro's test echo server (python -m Pyro4.test.echoserver) with -N (also start a name server,
on a free port here: PYRO_NS_PORT=0) and -v: echo, error, error_with_text, oneway_echo,
generator, dunder and private methods, the verbose property, and shutdown()."""

import os
import signal
import subprocess
import sys
import time

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

server = subprocess.Popen(
    [sys.executable, "-u", "-m", "Pyro4.test.echoserver", "-H", "127.0.0.1", "-N", "-v"],
    stdout=subprocess.PIPE,
    text=True,
    env=dict(os.environ, PYRO_NS_PORT="0"),
)
try:
    facts = {}
    for line in server.stdout:
        if line.startswith("using name server at "):
            facts["ns"] = line.split()[-1]
        elif ": " in line:
            key, value = line.strip().split(": ", 1)
            facts[key] = value
        if line.startswith("echoserver running."):
            break
    else:
        raise SystemExit("the echo server did not start: %r" % facts)
    ns_uri = Pyro4.URI(facts["ns"])
    assert facts["object name"] == "test.echoserver"
    assert facts["echo uri"].startswith("PYRO:test.echoserver@127.0.0.1:")

    with Pyro4.Proxy("PYRONAME:test.echoserver@127.0.0.1:%d" % ns_uri.port) as echo:
        assert echo.echo([1, "two", {"three": 3}]) == [1, "two", {"three": 3}]
        for method, text in ((echo.error, "expected error"), (echo.error_with_text, "message")):
            try:
                method()
                raise SystemExit("no error from the echo server")
            except ValueError as x:
                assert text in str(x), x
        assert echo.oneway_echo("nobody waits") is None
        started = time.time()
        assert echo.oneway_slow() is None
        assert time.time() - started < 4.0  # it sleeps 5 s in the server; we do not wait
        assert list(echo.generator()) == ["one", "two", "three"]
        assert echo.__dunder__() == "should be allowed (dunder)"
        try:
            echo._private()
            raise SystemExit("a private method of the echo server was reachable")
        except AttributeError:
            pass
        assert echo.verbose is True
        echo.shutdown()
    rest = server.stdout.read()
    assert server.wait(20) == 0, rest
finally:
    if server.poll() is None:
        server.terminate()
        server.wait(10)
print("OK")
