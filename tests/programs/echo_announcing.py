"""``zpyro-echo`` whose ``slow()`` prints ``SLOW STARTED`` first, so a test knows the call arrived.

Same command line and output as ``python -m zpyro.echo``; only that one line is added.
"""

from __future__ import annotations

import sys
from typing import Any

from zpyro import echo, expose


@expose  # class exposure covers the members a class defines itself
class AnnouncingEchoServer(echo.EchoServer):
    def slow(self, seconds: float = 5.0) -> Any:
        print(f"SLOW STARTED {seconds}", flush=True)
        return super().slow(seconds)


echo.EchoServer = AnnouncingEchoServer  # type: ignore[misc]  # main() looks it up at call time

if __name__ == "__main__":
    sys.exit(echo.main())
