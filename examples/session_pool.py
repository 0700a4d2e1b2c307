"""Sessions through a pool: each proxy keeps its own cart, on the server that holds it.

Two worker processes (cart_worker.py) register the class ``Cart`` in ``session`` mode under
the same name, ``shop.cart``: one pool. A session-mode class gives each connected proxy its own
instance, and through a pool the broker keeps that promise: a proxy's first call picks the least
loaded worker, and all its later calls go to that same worker, where its cart is.

Then the worker holding alice's cart is killed. Her cart is gone with it, and her next call says
so (a ConnectionClosedError saying the session was lost) instead of quietly giving her an empty
cart on the other worker. A new proxy starts a new session there.
"""

from __future__ import annotations

from pathlib import Path

from launch import Launcher

import zpyro
from zpyro import errors

HERE = Path(__file__).resolve().parent
# fast heartbeats, so the broker notices the killed worker within a second
FAST_HEARTBEATS = {"ZPYRO_HEARTBEAT_INTERVAL": "0.2", "ZPYRO_HEARTBEAT_TIMEOUT": "1.0"}


def shop(cart: zpyro.Proxy, items: list[str]) -> set[str]:
    """Put items in the cart; the names of the workers that served the calls."""
    return {cart.add(item) for item in items}


def main() -> None:
    with Launcher(env=FAST_HEARTBEATS) as launch:
        _broker, location = launch.broker()
        workers = {
            name: launch.python(name, HERE / "cart_worker.py", f"tcp://{location}", name)
            for name in ("worker-1", "worker-2")
        }
        for worker in workers.values():
            worker.wait_for("READY ")
        print(f"2 workers serve shop.cart through the broker at {location}")

        uri = f"PYRONAME:shop.cart@{location}"
        with zpyro.Proxy(uri) as alice, zpyro.Proxy(uri) as bob:
            served: dict[str, set[str]] = {"alice": set(), "bob": set()}
            for a, b in [("apple", "milk"), ("bread", "eggs"), ("cheese", "flour")]:
                served["alice"] |= shop(alice, [a])  # their calls interleave
                served["bob"] |= shop(bob, [b])
            for name, cart in (("alice", alice), ("bob", bob)):
                print(f"{name}'s cart: {cart.items()}, every call served by {sorted(served[name])}")

            holder = served["alice"].pop()
            workers[holder].proc.kill()  # a crash: no goodbye to the broker
            workers[holder].proc.wait(5)
            print(f"killed {holder}, which held alice's cart")
            try:
                alice.items()
            except errors.ConnectionClosedError as exc:
                print(f"alice's next call: ConnectionClosedError: {exc}")

        with zpyro.Proxy(uri) as alice:  # a new proxy: a new session, on the worker left
            where = shop(alice, ["bananas"])
            print(f"alice's new cart: {alice.items()} on {sorted(where)}")


if __name__ == "__main__":
    main()
