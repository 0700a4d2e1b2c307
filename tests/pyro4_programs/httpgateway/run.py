"""The HTTP gateway (python -m Pyro4.utils.httpgateway): objects whose names match the expose
pattern are callable with plain HTTP GET/POST and answer in JSON; X-Pyro-Options: oneway;
$meta; names outside the pattern get 403."""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


@Pyro4.expose
class Greeter(object):
    def __init__(self):
        self.fired = threading.Event()

    def greet(self, name="world"):
        return {"greeting": "hello " + name}

    @Pyro4.oneway
    def fire(self):
        self.fired.set()


def read_until(proc, prefix):
    for line in proc.stdout:
        if line.startswith(prefix):
            return line.strip()
    raise SystemExit("process ended before printing %r" % prefix)


def get(url, headers=None, data=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as x:
        return x.code, x.read()


started = []
daemon = Pyro4.Daemon(host="127.0.0.1")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    ns = subprocess.Popen(
        [sys.executable, "-u", "-m", "Pyro4.naming", "-n", "127.0.0.1", "-p", "0", "-x"],
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(ns)
    ns_port = Pyro4.URI(read_until(ns, "URI = ").split("=", 1)[1].strip()).port
    nameserver = Pyro4.locateNS("127.0.0.1", ns_port)
    greeter = Greeter()
    nameserver.register("http.greeter", daemon.register(greeter))
    nameserver.register("private.greeter", daemon.register(Greeter()))

    gateway = subprocess.Popen(
        [sys.executable, "-u", "-m", "Pyro4.utils.httpgateway", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYRO_NS_HOST="127.0.0.1", PYRO_NS_PORT=str(ns_port)),
    )
    started.append(gateway)
    base = read_until(gateway, "Pyro HTTP gateway running on ").split()[-1]
    print("gateway:", base)

    status, body = get(base + "http.greeter/greet?name=pyro")
    assert status == 200 and json.loads(body) == {"greeting": "hello pyro"}, (status, body)
    status, body = get(base + "http.greeter/greet", data=b"name=post")
    assert status == 200 and json.loads(body) == {"greeting": "hello post"}, (status, body)
    status, body = get(base + "http.greeter/$meta")
    assert status == 200 and "greet" in json.loads(body)["methods"], body
    status, _ = get(base + "http.greeter/fire", headers={"X-Pyro-Options": "oneway"})
    assert status == 200 and greeter.fired.wait(20)
    assert get(base + "private.greeter/greet")[0] == 403
    assert get(base + "http.nothing/greet")[0] in (404, 500)  # an unknown name: an error status
    nameserver._pyroRelease()
finally:
    daemon.shutdown()
    for proc in reversed(started):
        proc.terminate()
        proc.wait(10)
print("OK")
