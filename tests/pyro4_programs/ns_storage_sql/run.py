"""A persistent name server (python -m Pyro4.naming -s sql:FILE): names registered before a
restart are still there after it."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

workdir = tempfile.mkdtemp(prefix="pyro4-ns-sql-")
dbfile = os.path.join(workdir, "names.sqlite")


def start_name_server():
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "Pyro4.naming", "-n", "127.0.0.1", "-p", "0", "-x"]
        + ["-s", "sql:" + dbfile],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("URI = "):
            return proc, Pyro4.URI(line.split("=", 1)[1].strip()).port, lines
    proc.wait(10)
    raise SystemExit("the name server did not start: %r" % lines)


try:
    ns_proc, port, _ = start_name_server()
    try:
        ns = Pyro4.locateNS("127.0.0.1", port)
        ns.register("example.persistent", "PYRO:kept@127.0.0.1:4444", metadata={"kept"})
        ns._pyroRelease()
    finally:
        ns_proc.terminate()
        ns_proc.wait(10)
    ns_proc, port, lines = start_name_server()
    try:
        print("\n".join(lines))
        assert any(line.startswith("Persistent store contains") for line in lines), lines
        ns = Pyro4.locateNS("127.0.0.1", port)
        uri, metadata = ns.lookup("example.persistent", return_metadata=True)
        assert str(uri) == "PYRO:kept@127.0.0.1:4444" and set(metadata) == {"kept"}
        ns._pyroRelease()
    finally:
        ns_proc.terminate()
        ns_proc.wait(10)
finally:
    shutil.rmtree(workdir)
print("OK")
