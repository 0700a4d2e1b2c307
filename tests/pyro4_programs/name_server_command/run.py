"""The name server as users run it (python -m Pyro4.naming -n HOST -p 0 -x) and the nsc
tool (python -m Pyro4.nsc -n HOST -p PORT ...): ping, register, list, lookup, listmatching,
setmeta, listmeta_all, listmeta_any, remove, removematching; and its listing format."""

import signal
import subprocess
import sys

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

ns = subprocess.Popen(
    [sys.executable, "-u", "-m", "Pyro4.naming", "-n", "127.0.0.1", "-p", "0", "-x"],
    stdout=subprocess.PIPE,
    text=True,
)
try:
    for line in ns.stdout:
        print("ns:", line.rstrip())
        if line.startswith("URI = "):
            break
    else:
        raise SystemExit("the name server did not start")
    port = Pyro4.URI(line.split("=", 1)[1].strip()).port

    def nsc(*args, stdin=None):
        result = subprocess.run(
            [sys.executable, "-m", "Pyro4.nsc", "-n", "127.0.0.1", "-p", str(port)] + list(args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
        )
        print("$ nsc", " ".join(args))
        print(result.stdout.rstrip())
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    assert nsc("ping") == ["Name server ping ok."]
    assert nsc("register", "example.one", "PYRO:one@127.0.0.1:5001") == ["Registered example.one"]
    nsc("register", "example.two", "PYRO:two@127.0.0.1:5002")
    listing = nsc("list")
    assert listing[0].startswith("--------START LIST") and listing[-1].startswith(
        "--------END LIST"
    )
    assert "example.one --> PYRO:one@127.0.0.1:5001" in listing
    ns_entry = listing.index("Pyro.NameServer --> PYRO:Pyro.NameServer@127.0.0.1:%d" % port)
    ns_tags = listing[ns_entry + 1]  # the metadata line under its entry carries its class tag
    assert ns_tags.startswith("    metadata: [") and "'class:Pyro4.naming.NameServer'" in ns_tags
    assert nsc("list", "example.t")[1:-1] == ["example.two --> PYRO:two@127.0.0.1:5002"]
    assert nsc("lookup", "example.one") == ["PYRO:one@127.0.0.1:5001"]
    assert nsc("listmatching", "ex.*e$")[1:-1] == ["example.one --> PYRO:one@127.0.0.1:5001"]
    assert nsc("setmeta", "example.one", "colour:red", "size:big") == ["Metadata updated"]
    found = nsc("listmeta_all", "colour:red", "size:big")
    assert found[1] == "example.one --> PYRO:one@127.0.0.1:5001", found
    assert len(nsc("listmeta_any", "colour:red", "colour:blue")) == 4  # start, entry, meta, end
    verbose = nsc("-v", "ping")
    assert verbose[0] == "Locating name server..." and "Name server ping ok." in verbose
    assert nsc("remove", "example.one") == ["Removed example.one"]
    assert nsc("remove", "example.one") == ["Nothing removed"]
    assert nsc("removematching", "example.*", stdin="y\n")[-1].endswith("1 items removed.")
    assert nsc("list", "example.")[1:-1] == []
finally:
    ns.terminate()
    ns.wait(10)
print("OK")
