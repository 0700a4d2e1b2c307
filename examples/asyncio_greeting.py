"""The greeting example on asyncio: ``zpyro.aio`` serves and calls inside an event loop.

``aio.Daemon`` serves its objects from the running loop (``await daemon.serve_forever()``, ended
by ``daemon.shutdown()`` or by cancelling the task). ``async def`` methods are awaited, so a
method that waits does not hold up the other callers. ``aio.Proxy`` makes calls that you
``await``; many calls on one proxy can be in flight at once, e.g. with ``asyncio.gather``.
"""

import asyncio

import zpyro
from zpyro import aio


@zpyro.expose
class GreetingMaker:
    async def get_fortune(self, name):
        await asyncio.sleep(0.2)  # e.g. ask some other service; other callers go on meanwhile
        return (
            f"Hello, {name}. Here is your fortune message:\n"
            "Behold the warranty -- the bold print giveth and the fine print taketh away."
        )

    def shout(self, text):  # plain methods work too
        return text.upper() + "!"


async def main():
    daemon = aio.Daemon(host="127.0.0.1")
    uri = daemon.register(GreetingMaker, "example.greeting")
    server = asyncio.create_task(daemon.serve_forever())
    print("serving", uri)

    async with aio.Proxy(uri) as greeter:
        print(await greeter.get_fortune("Irmen"))
        print(await greeter.shout("hello"))

        names = [f"caller{n}" for n in range(20)]
        loop = asyncio.get_running_loop()
        start = loop.time()
        fortunes = await asyncio.gather(*(greeter.get_fortune(name) for name in names))
        elapsed = loop.time() - start
        print(f"{len(fortunes)} calls of 0.2 s each, gathered on one proxy, took {elapsed:.2f} s")
        print("last greeting starts:", fortunes[-1].splitlines()[0])

    daemon.shutdown()
    await asyncio.wait_for(server, timeout=5)
    daemon.close()
    print("daemon stopped")


if __name__ == "__main__":
    asyncio.run(main())
