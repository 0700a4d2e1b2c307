"""Helper for the examples that need other processes (a broker, workers, a server).

Not an example itself. ``with Launcher() as launch:`` starts processes, waits (bounded) for the
line each prints when it is ready, and on the way out -- normal end, error or Ctrl-C -- stops
every one of them by its pid, last started first.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the examples bind and connect only to the loopback address
STOP_TIMEOUT = 5.0


class Started:
    """A subprocess whose stdout lines a reader thread collects, so we can wait for one."""

    def __init__(self, label: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.label = label
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), full_env.get("PYTHONPATH")])
        )
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,  # a worker stops when this closes, even if we die
            stdout=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=str(ROOT),
            start_new_session=True,  # Ctrl-C reaches only us; we stop the others ourselves
        )
        self.pid = self.proc.pid
        self.terminated = False
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix: str, timeout: float = 15.0) -> str:
        """The first line starting with `prefix`; RuntimeError if none comes within `timeout`."""
        try:
            while (line := self.lines.get(timeout=timeout)) is not None:
                if line.startswith(prefix):
                    return line
        except queue.Empty:
            raise RuntimeError(f"{self.label} printed no {prefix!r} within {timeout} s") from None
        raise RuntimeError(f"{self.label} exited (code {self.proc.wait()}) before {prefix!r}")

    def terminate(self) -> None:
        if self.proc.poll() is None and not self.terminated:
            self.terminated = True
            self.proc.terminate()  # SIGTERM, to this pid only

    def stop(self) -> None:
        """Terminate by pid; kill if it does not go within STOP_TIMEOUT."""
        self.terminate()
        if self.proc.poll() is None:
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


def wait_for_any(procs: list[Started], prefix: str, timeout: float = 15.0) -> tuple[Started, str]:
    """The first of `procs` to print a line starting with `prefix`, and that line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            try:
                line = proc.lines.get(timeout=0.02)
            except queue.Empty:
                continue
            if line is not None and line.startswith(prefix):
                return proc, line
    raise RuntimeError(f"none of {[p.label for p in procs]} printed {prefix!r} within {timeout} s")


class Launcher:
    def __init__(self, env: dict[str, str] | None = None, verbose: bool = True) -> None:
        self.env = env or {}  # for every process started
        self.verbose = verbose
        self.started: list[Started] = []

    def start(self, label: str, args: list[str], env: dict[str, str] | None = None) -> Started:
        proc = Started(label, args, {**self.env, **(env or {})})
        self.started.append(proc)
        return proc

    def python(self, label: str, script: Path | str, *args: str, **kw: Any) -> Started:
        return self.start(label, [sys.executable, str(script), *args], **kw)

    def broker(self, timeout: float = 15.0) -> tuple[Started, str]:
        """A broker (name server) on free ports, in memory; returns it and its HOST:PORT."""
        args = [sys.executable, "-m", "zpyro.broker", "--host", HOST]
        args += ["--port", "0", "--pub-port", "0"]
        proc = self.start("broker", [*args, "--storage", "memory"])
        # READY PYRO:Pyro.NameServer@HOST:PORT pub=HOST:PUBPORT epoch=E storage=SPEC
        line = proc.wait_for("READY ", timeout)
        return proc, line.split()[1].split("@", 1)[1]

    def stop_all(self) -> None:
        for proc in reversed(self.started):  # all at once, then wait for each
            proc.terminate()
        while self.started:
            proc = self.started.pop()
            proc.stop()
            if self.verbose:
                print(f"stopped {proc.label} (pid {proc.pid})")

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
