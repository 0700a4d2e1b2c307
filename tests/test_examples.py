"""Every example in examples/ runs on its own, exits 0 and prints what it is meant to show."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# example file -> regular expressions that must each match some line of its output
EXPECTED = {
    "demo.py": [
        r"^broker \(pid \d+\): name server at 127\.0\.0\.1:\d+$",
        r"^worker-3 \(pid \d+\) joined the pool jobs\.render$",
        r"^dispatching 300 jobs to PYRONAME:jobs\.render@127\.0\.0\.1:\d+ \.\.\.$",
        # every worker got a share (the three counts add up to 300)
        r"^  worker-1: (?:[1-9]\d?|1\d\d) jobs$",
        r"^  worker-2: (?:[1-9]\d?|1\d\d) jobs$",
        r"^  worker-3: (?:[1-9]\d?|1\d\d) jobs$",
        r"^300 jobs in \d+\.\d\d s; ideal \d\.\d\d s \(their run time spread evenly over 6 slots\)",
        r"^stopped worker-1 \(pid \d+\)$",
        r"^stopped broker \(pid \d+\)$",
    ],
    "greeting/run.py": [
        r"^server \(pid \d+\): Ready\. Object uri = PYRO:obj_[0-9a-f]+@127\.0\.0\.1:\d+$",
        r"^client: What is the zpyro uri of the greeting object\?$",
        r"^Hello, Irmen\. Here is your fortune message:$",
        r"^Behold the warranty -- the bold print giveth and the fine print taketh away\.$",
        r"^stopped greeting server \(pid \d+\)$",
    ],
    "nameserver_greeting/run.py": [
        r"^server \(pid \d+\): Ready\.$",
        r"^client: What is your name\?$",
        r"^Hello, Irmen\. Here is your fortune message:$",
        r"^Tomorrow's lucky number is 12345678\.$",
        r"^Pyro\.NameServer --> PYRO:Pyro\.NameServer@127\.0\.0\.1:\d+$",
        r"^example\.greeting --> PYRO:obj_[0-9a-f]+@127\.0\.0\.1:\d+$",
        r"^stopped broker \(pid \d+\)$",
    ],
    "pool_dispatch.py": [
        r"^3 workers serve jobs\.render through the broker at 127\.0\.0\.1:\d+$",
        r"^frames in order: True$",
        r"^frames per worker: worker-1 [1-9]\d*, worker-2 [1-9]\d*, worker-3 [1-9]\d*$",
        r"^killed worker-\d while it was busy with frame 99$",
        r"^frame 99 was finished by worker-\d \(another worker: True\)$",
        r"^stopped broker \(pid \d+\)$",
    ],
    "pyrometa_lookup.py": [
        r"^colour printers: \['printer\.lab\.color', 'printer\.office\.color'\]$",
        r"^anything in the us: \['printer\.lab\.color', 'scanner\.lab'\]$",
        r"^printer\.office\.laser is PYRO:printer\.office\.laser@127\.0\.0\.1:\d+ with tags "
        r"\['color:no', 'kind:printer', 'region:eu'\]$",
        r"^PYROMETA us colour printer: printer\.lab\.color printed 'holiday photos'$",
        r"^PYROMETA any eu printer: printer\.office\.(laser|color) printed 'invoice'$",
        r"^PYROMETA scanner: scanner\.lab printed 'receipt'$",
        r"^broken devices: \['scanner\.lab'\]$",
        r"^PYROMETA plotter: NamingError: ",
        r"^stopped broker \(pid \d+\)$",
    ],
    "asyncio_greeting.py": [
        r"^serving PYRO:example\.greeting@127\.0\.0\.1:\d+$",
        r"^Hello, Irmen\. Here is your fortune message:$",
        r"^HELLO!$",
        # 20 calls that each await 0.2 s: far less than the 4 s they would take one by one
        r"^20 calls of 0\.2 s each, gathered on one proxy, took [01]\.\d+ s$",
        r"^last greeting starts: Hello, caller19\. Here is your fortune message:$",
        r"^daemon stopped$",
    ],
    "autoproxy.py": [
        r"^build\(\) returned a Proxy for PYRO:\S+@127\.0\.0\.1:\d+$",
        r"^Beetle drove 30 km, odometer at 150 km$",
        r"^in the garage: Beetle drove 1 km, odometer at 151 km$",
        r"^in the garage: Mini drove 1 km, odometer at 6 km$",
        r"^the server's cars have driven 157 km in total$",
    ],
    "batch.py": [
        r"^multiply\(7, 6\) = 42$",
        r"^add\(1, 2\) = 3$",
        r"^divide\(22, 7\) = 3\.1429$",
        r"^divide\(1, 0\) raised ZeroDivisionError: ",
        r"^oneway batch returned None$",
        r"^lines logged by the oneway batch: 5$",
        r"^asynchronous batch results: \[1, 4, 9, 16\]$",
        r"^sum of the batched results: 39800$",
    ],
    "call_context.py": [
        # the id the client set reaches the frontend and, through its nested call, the backend
        r"^client: correlation id (\S+)$[\s\S]*^frontend: order\('teapot'\) with correlation id \1$"
        r"[\s\S]*^backend: stock\('teapot'\) with correlation id \1$",
        r"^frontend: the client sent client_version=2\.1$",
        r"^client: got 'teapot: 3 in stock'$",
        r"^client: the response said served_by = frontend-1$",
    ],
    "handshake.py": [
        r"^intruder refused: connection rejected: wrong secret handshake: 'a wrong guess'$",
        r"^intruder refused: connection rejected: wrong secret handshake: 'hello'$",
        r"^daemon: welcome, client from 127\.0\.0\.1$",
        r"^client: the daemon says \{'motd': 'mind the laser grid'\}$",
        r"^client: the vault is open$",
        r"^daemon: a client went away$",
    ],
    "resource_tracking.py": [
        r"^client: holding \['notes\.md', 'report\.txt'\]$",
        r"^daemon: closed notes\.md$",
        r"^all closed: \['data\.csv', 'notes\.md', 'report\.txt'\]$",
    ],
    "nat.py": [
        r"^uri +PYRO:example\.nat@127\.0\.0\.1:\d+$",
        r"^through the router: inside the private network$",
        r"^connections the router forwarded: 1$",
    ],
    "callback_factory.py": [
        r"^client: the factory is example\.jobfactory$",
        r"^server: listener arrived as Proxy$",
        r"^client: got a Proxy for obj_\.\.\.$",
        r"^client: backup at step 3/3$",
        r"^client: backup done$",
    ],
    "usersession.py": [
        r"^alice \(from 127\.0\.0\.1\) has \['apples', 'avocados'\]$",
        r"^bob \(from 127\.0\.0\.1\) has \['bread'\]$",
        r"^carol \(from 127\.0\.0\.1\) has \['cheese'\]$",
    ],
    "callbacks.py": [
        r"^client listener: progress 1/4$",
        r"^client listener: progress 4/4$",
        r"^client: the server added it up to 10$",
        r"^\[log\] ERROR zpyro\.dispatch: exception in callback client\.listener\.broken$",
        r"^client: server says: the listener raised ValueError: the listener cannot handle this$",
    ],
    "futures.py": [
        r"^called slow_square\(7\); result ready\? False$",
        r"^result there within 0\.1 s\? False$",
        r"^slow_square\(7\)\.value = 49$",
        r"^slow_square\(3\) then \+1 then with '!' -> '10!'$",  # .value: the chain's end
        r"^iferror handler got ZeroDivisionError$",
        r"^divide\(1, 0\) failed with ZeroDivisionError$",
        r"^  square of 5 is 25$",
        # five 0.3 s calls outstanding at once: well under the 1.5 s they take one by one
        r"^5 calls of 0\.3 s each, all outstanding at once, took 0\.\d+ s$",
        r"^plain call again: slow_square\(4, 0\) = 16$",
        r"^Future\(slow_square\)\.then\(x2\), delayed 0\.2 s -> 50$",
        r"^cancelled before it ran: True$",
        r"^its result says: future has been cancelled$",
    ],
    "streaming.py": [
        r"^squares: \[0, 1, 4, 9, 16, 25, 36, 49, 64, 81\]$",
        r"^words: \['the', 'quick', 'brown', 'fox'\]$",
        r"^sum of 10,000 squares: 333283335000$",
        r"^first 15 fibonacci numbers: \[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377\]$",
        r"^server generator closed: True$",
    ],
    "oneway.py": [
        r"^oneway call returned None after 0\.\d+ s \(the job takes 1 s\)$",
        r"^is the job done yet\? False$",
        r"^is the job done now\? True$",
        r"^lines logged by oneway calls: 3$",
    ],
    "http_gateway.py": [
        r"^gateway ready: http://127\.0\.0\.1:\d+/$",
        r'^  200 "Hello, Irmen\. Here is your fortune message: behold the warranty\."$',
        r"^  200 5$",
        r'^  200 \{"methods":\["add","countdown","get_fortune","refuse"\],"attributes":\[\],"oneway":\[\]\}$',
        r"^  200 3 \| 2 \| 1$",
        r"^  500 builtins\.PermissionError: not today$",
        r"^  403 zpyro\.errors\.SecurityError: access to 'Pyro\.NameServer' is denied",
        r"^stopped gateway, daemon and broker$",
    ],
    "instance_modes.py": [
        r"^ single: 4 calls from 2 proxies -> 1 instance\(s\): \[\(1, 1\), \(1, 2\), \(1, 3\), \(1, 4\)\]$",
        r"^session: 4 calls from 2 proxies -> 2 instance\(s\): \[\(1, 1\), \(1, 2\), \(2, 1\), \(2, 2\)\]$",
        r"^percall: 4 calls from 2 proxies -> 4 instance\(s\): \[\(1, 1\), \(2, 1\), \(3, 1\), \(4, 1\)\]$",
    ],
    "watch_names.py": [
        r"^broker ready: PYRO:Pyro\.NameServer@127\.0\.0\.1:\d+, announcements on 127\.0\.0\.1:\d+$",
        r"^watcher synchronised: Pyro\.NameServer$",
        r"^watcher lookup: example\.greeting --> PYRO:greeter@127\.0\.0\.1:5001 \['lang:en'\]$",
        r"^watcher now holds: Pyro\.NameServer, example\.greeting$",
        r"^announced: name\.registered example\.greeting -> PYRO:greeter@127\.0\.0\.1:5001$",
        r"^announced: name\.registered example\.weather -> PYRO:weather@127\.0\.0\.1:5002$",
        r"^announced: name\.removed example\.weather$",
        r"^stopped broker \(pid \d+\)$",
    ],
    "chat/run.py": [
        r"^alice joined lobby, members: alice$",
        r"^bob joined lobby, members: alice, bob$",
        r"^carol joined lobby, members: alice, bob, carol$",
        r"^alice heard 4 chat messages$",
        r"^bob heard 4 chat messages$",
        # the member that vanished is dropped at the first delivery that fails
        r"^server: dropped carol from lobby \(\w+\)$",
        r"^alice left$",
        r"^stopped broker \(pid \d+\)$",
    ],
    "work_queue/run.py": [
        r"^work queue at PYRO:example\.workqueue@127\.0\.0\.1:\d+$",
        r"^40 numbers factorised by [1-3] workers$",
        r"^  worker-1: \d+ items$",
        r"^every product of factors is its number: True$",
        r"^factors of 90190901043: \[3, 3, 100103, 100109\]$",
        r"^worker-3 stopped after \d+ items$",
    ],
    "file_transfer.py": [
        r"^small file back: b'Hello, files!\\n'$",
        r"^20 MiB up and down: True, same bytes: True, type bytes \(\d+\.\d\d s\)$",
        r"^streamed big\.bin in 20 chunks of 1 MiB; checksum matches: True$",
        r"^with json: b'Hello, files!\\n'$",
        r"^the store holds: \{'big\.bin': 20971520, 'hello\.txt': 14\}$",
    ],
    "custom_classes.py": [
        r"^without converters a datetime arrives as: str$",
        r"^without converters Money arrives as: dict$",
        r"^with converters a datetime arrives as: datetime$",
        r"^serpent: 18:30 in Tokyo \(\+0900\) is 11:30 \(\+0200\) in Amsterdam \(same moment: True\)$",
        r"^json: 18:30 in Tokyo \(\+0900\) is 11:30 \(\+0200\) in Amsterdam \(same moment: True\)$",
        r"^msgpack: with the fee: Money\('10\.49', 'EUR'\)$",
    ],
    "nameserver_inprocess.py": [
        r"^name server running at PYRO:Pyro\.NameServer@127\.0\.0\.1:\d+$",
        r"^found by its class tag: \['Pyro\.NameServer'\]$",
        r"^printer\.office tags: \['class:__main__\.LaserPrinter', 'class:__main__\.Printer', "
        r"'region:eu'\]$",
        r"^every Printer: \['printer\.lab', 'printer\.office'\]$",
        r"^lasers only: \['printer\.office'\]$",
        r"^PYROMETA:region:us -> lab inkjet printed 'a poster'$",
        r"^the early client waited \d+\.\d s for PYRO:printer\.late@127\.0\.0\.1:\d+$",
        r"^PYRONAME:printer\.latecomer -> late printer printed 'at last'$",
        r"^name server stopped$",
    ],
    "nameserver_command.py": [
        r"^  ns: NS running on 127\.0\.0\.1:\d+ \(127\.0\.0\.1\)$",
        r"^  ns: URI = PYRO:Pyro\.NameServer@127\.0\.0\.1:\d+$",
        r"^--------START LIST - prefix 'example\.'\n"
        r"example\.clock --> PYRO:clock@127\.0\.0\.1:5002\n"
        r"example\.weather --> PYRO:weather@127\.0\.0\.1:5001\n"
        r"    metadata: \['region:eu'\]\n"
        r"--------END LIST - prefix 'example\.'$",
        r"^--------START LIST  - searched by metadata$",
        r"^  ns: Persistent store contains 3 existing registrations\.$",
        r"^still there: example\.weather -> PYRO:weather@127\.0\.0\.1:5001$",
    ],
    "session_pool.py": [
        r"^2 workers serve shop\.cart through the broker at 127\.0\.0\.1:\d+$",
        # every call of a proxy reaches the one worker holding its session
        r"^alice's cart: \['apple', 'bread', 'cheese'\], every call served by \['worker-\d'\]$",
        r"^bob's cart: \['milk', 'eggs', 'flour'\], every call served by \['worker-\d'\]$",
        r"^killed worker-\d, which held alice's cart$",
        r"^alice's next call: ConnectionClosedError: the session of this proxy with "
        r"'shop\.cart' is lost: ",
        r"^alice's new cart: \['bananas'\] on \['worker-\d'\]$",
        r"^stopped broker \(pid \d+\)$",
    ],
    "event_loop.py": [
        r"^client: recorded 22\.5 C \(3 readings so far\)$",
        r"^client: average is 21\.0 C$",
        r"^server: my own socket says: client done$",
        r"^server: loop ended, daemon closed$",
    ],
}


def run_example(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    result = run_example(name)
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{result.stderr}"
    for pattern in EXPECTED[name]:
        assert re.search(pattern, result.stdout, re.MULTILINE), (
            f"{name}: no line matches {pattern!r} in:\n{result.stdout}\n{result.stderr}"
        )


HELPERS = {"launch.py", "pool_worker.py", "cart_worker.py"}  # used by the examples, not run alone


def test_every_example_is_checked() -> None:
    own = {p.name for p in EXAMPLES.glob("*.py")} - HELPERS
    own |= {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.glob("*/run.py")}
    assert own == set(EXPECTED)
