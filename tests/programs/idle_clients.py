"""Hold N connected, idle proxies to one URI (each made one call) until stdin closes or says quit.

Usage: python idle_clients.py URI N. Prints ``CONNECTED N`` when all N proxies have made their
call, then waits; prints ``RELEASED`` after closing them.

The zmq context gets room for many sockets first: a proxy uses a few zmq sockets, and libzmq's
default of 1023 sockets per context would otherwise stop this process long before N proxies.
"""

from __future__ import annotations

import sys

import zmq

import zpyro


def main() -> int:
    uri, count = sys.argv[1], int(sys.argv[2])
    zmq.Context.instance().set(zmq.MAX_SOCKETS, 8 * count + 1024)
    proxies = []
    for i in range(count):
        p = zpyro.Proxy(uri)
        if p.add(i, 1) != i + 1:
            print(f"WRONG ANSWER from proxy {i}", flush=True)
            return 1
        proxies.append(p)
    print(f"CONNECTED {len(proxies)}", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
    for p in proxies:
        p._pyroRelease()
    print("RELEASED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
