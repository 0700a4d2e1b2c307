"""zpyro/gateway/targets.py without a name server: the URI cache, forgetting on announcements,
and the release of proxies no name points to any more (a fake watcher, an injected clock)."""

from __future__ import annotations

from typing import Any

import pytest

from zpyro import errors
from zpyro.announce import Announcement
from zpyro.gateway import targets as targetsmod
from zpyro.gateway.targets import NotReady, Targets


class FakeWatcher:
    def __init__(self, names: dict[str, str]) -> None:
        self.table = names
        self.lookups = 0

    def names(self) -> dict[str, tuple[str, set[str]]]:
        return {name: (uri, set()) for name, uri in self.table.items()}

    def lookup(self, name: str) -> str:
        self.lookups += 1
        if name not in self.table:
            raise errors.NamingError(f"unknown name: {name}")
        return self.table[name]


def targets_with(names: dict[str, str]) -> tuple[Targets, FakeWatcher]:
    seen: list[Announcement] = []
    targets = Targets("127.0.0.1", 1, 2, 5.0, "msgpack", on_event=seen.append)
    watcher = FakeWatcher(names)
    targets._watcher = watcher  # type: ignore[assignment]
    return targets, watcher


def test_before_the_first_snapshot_every_lookup_is_not_ready() -> None:
    targets = Targets("127.0.0.1", 1, 2, 5.0, "msgpack")
    assert not targets.ready and targets.location == "127.0.0.1:1"
    with pytest.raises(NotReady):
        targets.uri_of("http.x")
    assert Targets("::1", 9, 10, None, "json").location == "[::1]:9"


def test_uris_are_cached_until_an_announcement() -> None:
    targets, watcher = targets_with({"http.a": "PYRO:a@127.0.0.1:5"})
    assert targets.uri_of("http.a") == "PYRO:a@127.0.0.1:5"
    assert targets.uri_of("http.a") == "PYRO:a@127.0.0.1:5"
    assert watcher.lookups == 1
    watcher.table["http.a"] = "PYRO:a@127.0.0.1:6"  # moved; the announcement comes next
    targets._announced(Announcement("name.registered", 1, 1, 0.0, {"name": "http.a"}))
    assert targets.uri_of("http.a") == "PYRO:a@127.0.0.1:6"
    with pytest.raises(errors.NamingError):
        targets.uri_of("http.nobody")
    targets._announced(Announcement("broker.alive", 1, 1, 0.0, {}))
    assert targets.last_alive is not None


def test_one_shared_proxy_per_uri_released_once_no_name_points_to_it(monkeypatch: Any) -> None:
    monkeypatch.setattr(targetsmod, "_UNUSED_GRACE", 10.0)
    targets, watcher = targets_with({"http.a": "PYRO:a@127.0.0.1:5"})
    first = targets.proxy("PYRO:a@127.0.0.1:5")
    assert targets.proxy("PYRO:a@127.0.0.1:5") is first
    assert first._pyroSerializer == "msgpack" and first._pyroTimeout == 5.0
    targets.proxy("PYRO:Pyro.Daemon@127.0.0.1:1")  # the broker's own: always kept
    assert targets.sweep(now=100.0) == 0
    del watcher.table["http.a"]  # the name went away
    assert targets.sweep(now=101.0) == 0  # noticed; not yet released
    assert targets.sweep(now=110.5) == 0  # the call timeout (5 s) is shorter than the grace
    assert targets.sweep(now=111.0) == 1
    assert targets.proxy("PYRO:a@127.0.0.1:5") is not first  # a new one if asked again
    assert targets.sweep(now=112.0) == 0
