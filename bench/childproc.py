"""A child process of a bench script, talked to by lines on stdin/stdout, stopped by its pid.

Shared by the benchmark's harness (``harness.Child``) and the soak (``soak.Child``); each adds
how it starts its children and what it asks them.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from typing import Any


class LineChild:
    def __init__(self, name: str, argv: list[str], **popen: Any) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            **popen,
        )
        self._buf = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_line(self, timeout: float) -> str:
        """The next line (stripped), waited for at most `timeout` s."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no line within {timeout} s")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited ({self.proc.wait(5)})")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode(errors="replace").strip()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self, grace: float = 5.0) -> None:
        """Close its stdin (it exits by itself), then SIGTERM, then SIGKILL: this pid only."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
