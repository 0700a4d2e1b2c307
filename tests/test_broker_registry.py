"""The name registry: stored names, leases on top, queries and validation. Pure."""

from __future__ import annotations

from typing import Any

import pytest

import zpyro
from zpyro.broker.registry import Entry, Registry
from zpyro.errors import NamingError

pytestmark = pytest.mark.timeout(30)

U1 = "PYRO:one@127.0.0.1:5001"
U2 = "PYRO:two@127.0.0.1:5002"
U3 = "PYRO:three@./u:/tmp/x.sock"


def filled() -> Registry:
    r = Registry()
    r.register("app.eu.one", U1, {"region:eu", "fast"})
    r.register("app.us.two", U2, ["region:us", "fast"])
    r.register("other.three", U3)
    return r


def test_register_and_lookup() -> None:
    r = Registry()
    assert r.register("a", zpyro.URI(U1), ("x",)) == Entry(U1, frozenset({"x"}), False)
    assert r.lookup("a") == Entry(U1, frozenset({"x"}), False)
    assert r.get("missing") is None
    assert r.count() == 1


def test_uri_is_stored_canonical() -> None:
    r = Registry()
    r.register("a", "  pyro:one@127.0.0.1:5001 ")
    assert r.lookup("a").uri == U1


def test_register_overwrites_unless_safe() -> None:
    r = Registry()
    r.register("a", U1)
    r.register("a", U2, {"t"})
    assert r.lookup("a") == Entry(U2, frozenset({"t"}), False)
    with pytest.raises(NamingError, match="already registered: a"):
        r.register("a", U1, safe=True)
    assert r.lookup("a").uri == U2
    r.register("b", U1, safe=True)
    assert r.lookup("b").uri == U1


def test_unknown_name() -> None:
    with pytest.raises(NamingError, match="unknown name: nope"):
        Registry().lookup("nope")


def test_lease_shadows_stored_and_drop_reveals_it() -> None:
    r = Registry()
    r.register("svc", U1, {"stored"})
    assert r.lease("svc", U2, {"leased"}) == Entry(U2, frozenset({"leased"}), True)
    assert r.lookup("svc") == Entry(U2, frozenset({"leased"}), True)
    assert r.stored("svc") == (U1, frozenset({"stored"}))
    assert r.count() == 1
    # a hand registration while the lease lives goes underneath it
    r.register("svc", U3)
    assert r.lookup("svc").uri == U2
    assert r.drop_lease("svc") is True
    assert r.lookup("svc") == Entry(U3, frozenset(), False)
    assert r.drop_lease("svc") is False


def test_lease_alone_disappears_when_dropped() -> None:
    r = Registry()
    r.lease("pooled", U1)
    assert r.list() == {"pooled": Entry(U1, frozenset(), True)}
    r.drop_lease("pooled")
    assert r.count() == 0
    with pytest.raises(NamingError):
        r.lookup("pooled")


def test_safe_register_refuses_a_leased_name() -> None:
    r = Registry()
    r.lease("pooled", U1)
    with pytest.raises(NamingError, match="already registered"):
        r.register("pooled", U2, safe=True)


def test_list_filters_combine() -> None:
    r = filled()
    assert list(r.list()) == ["app.eu.one", "app.us.two", "other.three"]
    assert list(r.list(prefix="app.")) == ["app.eu.one", "app.us.two"]
    assert list(r.list(regex=r".*\.t")) == ["app.us.two", "other.three"]
    assert list(r.list(regex="eu")) == []  # re.match: anchored at the start, as in Pyro
    assert list(r.list(metadata_all={"fast", "region:eu"})) == ["app.eu.one"]
    assert list(r.list(metadata_any=["region:us", "region:eu"])) == ["app.eu.one", "app.us.two"]
    assert list(r.list(prefix="app.", metadata_any={"region:us"})) == ["app.us.two"]
    assert list(r.list(prefix="other", metadata_all={"fast"})) == []
    assert list(r.list(metadata_all=set(), metadata_any=None)) == list(r.list())
    assert r.list(prefix="app.eu")["app.eu.one"] == Entry(
        U1, frozenset({"region:eu", "fast"}), False
    )


def test_list_sees_leases() -> None:
    r = filled()
    r.lease("app.eu.one", U3, {"pooled"})
    assert r.list(metadata_all={"pooled"}) == {"app.eu.one": Entry(U3, frozenset({"pooled"}), True)}
    assert list(r.list(metadata_all={"region:eu"})) == []


def test_bad_regex() -> None:
    with pytest.raises(NamingError, match="invalid regex"):
        filled().list(regex="(unclosed")
    with pytest.raises(NamingError, match="invalid regex"):
        filled().remove(regex="[z-a]")


def test_set_metadata_on_visible_entry() -> None:
    r = filled()
    assert r.set_metadata("other.three", ["new"]) == Entry(U3, frozenset({"new"}), False)
    assert r.lookup("other.three").metadata == {"new"}
    r.lease("other.three", U1)
    r.set_metadata("other.three", {"on-lease"})
    assert r.lookup("other.three") == Entry(U1, frozenset({"on-lease"}), True)
    assert r.stored("other.three") == (U3, frozenset({"new"}))  # the stored one is untouched
    with pytest.raises(NamingError, match="unknown name"):
        r.set_metadata("nope", [])


def test_remove() -> None:
    r = filled()
    assert r.remove() == []
    assert r.remove("nope") == []
    assert r.remove("other.three") == ["other.three"]
    assert r.remove(prefix="app.", regex=r".*two") == ["app.us.two"]
    assert r.remove(name="app.eu.one", prefix="zzz") == []  # criteria combine (AND)
    assert r.remove(prefix="app.") == ["app.eu.one"]
    assert r.count() == 0


def test_remove_takes_lease_and_stored_entry() -> None:
    r = Registry()
    r.register("n", U1)
    r.lease("n", U2)
    assert r.remove("n") == ["n"]
    assert r.get("n") is None and r.stored("n") is None


def test_restore_from_stored_dict() -> None:
    r = Registry({"a": (U1, ["x", "y"]), "b": (U2, frozenset())})
    assert r.lookup("a") == Entry(U1, frozenset({"x", "y"}), False)
    assert r.names() == ["a", "b"]
    with pytest.raises(NamingError):
        Registry({"bad name": (U1, [])})


@pytest.mark.parametrize(
    "name, why",
    [("", "empty"), ("a b", "whitespace"), ("tab\there", "whitespace"), (5, "str"), (None, "str")],
)
def test_bad_names(name: Any, why: str) -> None:
    r = Registry()
    with pytest.raises(NamingError, match=why):
        r.register(name, U1)
    with pytest.raises(NamingError, match=why):
        r.lease(name, U1)
    with pytest.raises(NamingError, match=why):
        r.lookup(name)


@pytest.mark.parametrize(
    "uri, why",
    [
        ("PYRONAME:other", "only PYRO"),
        ("PYROMETA:tag", "only PYRO"),
        ("PYRO:obj", "needs a location"),
        ("http://x", "invalid URI"),
        ("PYRO:obj@host:99999", "port"),
        (b"PYRO:obj@h:1", "str or zpyro.URI"),
        (None, "str or zpyro.URI"),
    ],
)
def test_bad_uris(uri: Any, why: str) -> None:
    with pytest.raises(NamingError, match=why):
        Registry().register("n", uri)
    with pytest.raises(NamingError, match=why):
        Registry().lease("n", uri)


@pytest.mark.parametrize(
    "metadata, why",
    [
        ("region:eu", "not a single str"),
        (b"tags", "not a single bytes"),
        (42, "iterable"),
        ([1, 2], "must be str"),
        ({"ok", None}, "must be str"),
    ],
)
def test_bad_metadata(metadata: Any, why: str) -> None:
    r = filled()
    with pytest.raises(NamingError, match=why):
        r.register("n", U1, metadata)
    with pytest.raises(NamingError, match=why):
        r.set_metadata("other.three", metadata)
    with pytest.raises(NamingError, match=why):
        r.list(metadata_all=metadata)
    assert r.get("n") is None
    assert r.lookup("other.three").metadata == frozenset()


def test_metadata_from_any_iterable() -> None:
    r = Registry()
    r.register("n", U1, (t for t in ["a", "b", "a"]))
    assert r.lookup("n").metadata == frozenset({"a", "b"})
    r.register("m", U1, {"k1": 1, "k2": 2})  # a dict iterates its keys, like Pyro's set(metadata)
    assert r.lookup("m").metadata == {"k1", "k2"}
