"""What a remote caller may reach: @expose, @oneway, @callback, @behavior, members_of."""

from __future__ import annotations

import pytest

import zpyro
from zpyro import exposure
from zpyro.exposure import behavior, callback, expose, instancing_of, members_of, oneway

pytestmark = pytest.mark.timeout(30)


def test_public_names_reexported() -> None:
    assert zpyro.expose is expose
    assert zpyro.oneway is oneway
    assert zpyro.callback is callback
    assert zpyro.behavior is behavior


# -- REQUIRE_EXPOSE on --------------------------------------------------------------------------


@expose
class Greeter:
    greeting = "hi"  # a plain class attribute: not a method, not a property

    def hello(self, name: str) -> str:
        return f"Hello, {name}"

    @oneway
    def log(self, line: str) -> None:
        pass

    @property
    def motto(self) -> str:
        return "m"

    @property
    def mood(self) -> str:
        return "ok"

    @mood.setter
    def mood(self, value: str) -> None:
        pass

    @staticmethod
    def static() -> int:
        return 1

    @classmethod
    def klass(cls) -> str:
        return cls.__name__

    async def later(self) -> int:
        return 2

    def _secret(self) -> None:
        pass

    def __dunder__(self) -> None:
        pass

    def __call__(self) -> None:
        pass

    @property
    def _hidden(self) -> int:
        return 0


def test_exposed_class_members() -> None:
    m = members_of(Greeter)
    # an exposed class's own dunders are reachable as in Pyro; __call__ is Python's machinery
    assert m.methods == {"hello", "log", "static", "klass", "later", "__dunder__"}
    assert m.oneway == {"log"}
    assert m.attrs == {"motto", "mood"}
    assert m.writable_attrs == {"mood"}
    assert m.coroutines == {"later"}


def test_members_of_instance_equals_class() -> None:
    assert members_of(Greeter()).methods == members_of(Greeter).methods


class Partly:
    @expose
    def shown(self) -> int:
        return 1

    def hidden(self) -> int:
        return 2

    @expose  # type: ignore[prop-decorator]
    @property
    def prop(self) -> int:
        return 3

    @prop.setter
    def prop(self, value: int) -> None:
        pass

    @property
    def plain_prop(self) -> int:
        return 4

    @property
    @expose
    def prop_inner(self) -> int:
        return 5

    @expose
    @staticmethod
    def stat() -> int:
        return 6

    @staticmethod
    def stat_hidden() -> int:
        return 7

    @expose
    @oneway
    def fire(self) -> None:
        pass

    @oneway
    @expose
    def fire2(self) -> None:
        pass

    @expose
    async def coro(self) -> int:
        return 8

    async def coro_hidden(self) -> int:
        return 9


def test_decorated_members_only() -> None:
    m = members_of(Partly, require_expose=True)
    assert m.methods == {"shown", "stat", "fire", "fire2", "coro"}
    assert m.attrs == {"prop", "prop_inner"}
    assert m.writable_attrs == {"prop"}
    assert m.oneway == {"fire", "fire2"}
    assert m.coroutines == {"coro"}


def test_property_setter_exposed_after_getter() -> None:
    class C:
        @property
        def value(self) -> int:
            return 1

        @expose  # type: ignore[misc]
        @value.setter
        def value(self, v: int) -> None:
            pass

    m = members_of(C)
    assert m.attrs == {"value"}
    assert m.writable_attrs == {"value"}


def test_undecorated_class_exposes_nothing() -> None:
    class Plain:
        def a(self) -> None:
            pass

        @property
        def b(self) -> int:
            return 1

    m = members_of(Plain)
    assert not m.methods and not m.attrs and not m.writable_attrs
    assert m.as_metadata() == {"methods": [], "oneway": [], "attrs": []}


# -- REQUIRE_EXPOSE off -------------------------------------------------------------------------


class OldStyle:
    counter = 0

    def a(self) -> int:
        return 1

    def b(self, x: int) -> int:
        return x

    @property
    def ro(self) -> int:
        return 1

    @property
    def rw(self) -> int:
        return 1

    @rw.setter
    def rw(self, v: int) -> None:
        pass

    @staticmethod
    def s() -> None:
        pass

    @oneway
    def ow(self) -> None:
        pass

    async def ac(self) -> None:
        pass

    def _private(self) -> None:
        pass

    def __init__(self) -> None:
        pass

    def __repr__(self) -> str:
        return "x"

    @property
    def _priv_prop(self) -> int:
        return 0


def test_require_expose_off_exposes_public_members() -> None:
    m = members_of(OldStyle, require_expose=False)
    assert m.methods == {"a", "b", "s", "ow", "ac"}
    assert m.attrs == {"ro", "rw"}
    assert m.writable_attrs == {"rw"}
    assert m.oneway == {"ow"}
    assert m.coroutines == {"ac"}
    # and the same class with REQUIRE_EXPOSE on exposes nothing
    on = members_of(OldStyle, require_expose=True)
    assert not on.methods and not on.attrs


@pytest.mark.parametrize("require", [True, False])
def test_private_never_exposed_dunders_only_explicitly(require: bool) -> None:
    @expose
    class C:
        def _one(self) -> None:
            pass

        def __two(self) -> None:
            pass

        def __three__(self) -> None:
            pass

        def __getattr__(self, name: str) -> None:
            return None

        def __reduce__(self) -> None:
            return None

        def ok(self) -> None:
            pass

    m = members_of(C, require_expose=require)
    # the class is exposed: its own dunders are, except those of Python's machinery
    assert m.methods == {"ok", "__three__"}
    assert exposure.is_private("_one") and exposure.is_private("__getattr__")
    assert not exposure.is_reachable_name("__getattr__")
    assert not exposure.is_reachable_name("__init__") and not exposure.is_reachable_name("_x")
    assert exposure.is_reachable_name("__len__") and exposure.is_reachable_name("ok")
    assert not exposure.is_private("ok")

    class Undecorated:
        def __len__(self) -> int:
            return 0

        @expose
        def __getitem__(self, index: int) -> int:
            return index

        def plain(self) -> None:
            pass

    # REQUIRE_EXPOSE off exposes public names; a dunder needs its own @expose
    loose = members_of(Undecorated, require_expose=False)
    assert loose.methods == {"plain", "__getitem__"}
    assert members_of(Undecorated, require_expose=True).methods == {"__getitem__"}


def test_object_base_members_not_listed() -> None:
    m = members_of(OldStyle, require_expose=False)
    assert not any(name.startswith("__") for name in m.methods)


# -- decorator validation -----------------------------------------------------------------------


def test_expose_private_function_raises() -> None:
    def _hidden() -> None:
        pass

    with pytest.raises(AttributeError, match="_hidden"):
        expose(_hidden)

    def __init__() -> None:
        pass

    with pytest.raises(AttributeError):
        expose(__init__)

    def __dunder__() -> None:
        pass

    assert expose(__dunder__) is __dunder__  # as in Pyro: an explicitly exposed dunder


def test_expose_private_method_in_class_body_raises() -> None:
    with pytest.raises(AttributeError):

        class C:
            @expose
            def _nope(self) -> None:
                pass


def test_expose_returns_same_object_and_marks() -> None:
    def f() -> None:
        pass

    assert expose(f) is f
    assert f._pyroExposed is True  # type: ignore[attr-defined]

    class K:
        pass

    assert expose(K) is K
    prop = property(lambda self: 1)
    assert expose(prop) is prop


def test_oneway_recorded() -> None:
    def f() -> None:
        pass

    assert oneway(f) is f
    assert f._pyroOneway is True  # type: ignore[attr-defined]
    sm = staticmethod(f)
    assert oneway(sm) is sm


def test_callback_recorded() -> None:
    def f() -> None:
        pass

    assert not exposure.is_callback(f)
    assert callback(f) is f
    assert exposure.is_callback(f)


# -- @behavior ----------------------------------------------------------------------------------


def test_behavior_default_is_session() -> None:
    class C:
        pass

    assert instancing_of(C) == ("session", None)

    @behavior()
    class D:
        pass

    assert instancing_of(D) == ("session", None)


@pytest.mark.parametrize("mode", ["single", "session", "percall"])
def test_behavior_modes(mode: str) -> None:
    def creator(cls: type) -> object:
        return cls()

    @behavior(instance_mode=mode, instance_creator=creator)
    class C:
        pass

    assert instancing_of(C) == (mode, creator)


@pytest.mark.parametrize("mode", ["singleton", "", "SINGLE", None, 3])
def test_behavior_bad_mode(mode: object) -> None:
    with pytest.raises(ValueError):
        behavior(instance_mode=mode)  # type: ignore[arg-type]


def test_behavior_without_parentheses_is_an_error() -> None:
    with pytest.raises(ValueError):

        @behavior  # type: ignore[arg-type]
        class C:
            pass


def test_behavior_non_callable_creator() -> None:
    with pytest.raises(TypeError):
        behavior("single", instance_creator=42)  # type: ignore[arg-type]


def test_behavior_on_non_class() -> None:
    with pytest.raises(TypeError):
        behavior("single")(lambda: None)  # type: ignore[arg-type]


# -- inheritance --------------------------------------------------------------------------------


@expose
class Base:
    def base_method(self) -> str:
        return "base"

    @property
    def base_prop(self) -> int:
        return 1


class Mixin:
    @expose
    def mixed(self) -> None:
        pass

    def not_mixed(self) -> None:
        pass


class Derived(Base, Mixin):
    @expose
    def own(self) -> None:
        pass


def test_inherited_exposed_members() -> None:
    m = members_of(Derived)
    assert {"base_method", "mixed", "own"} <= m.methods
    assert "base_prop" in m.attrs


def test_undecorated_subclass_does_not_expose_its_own_new_members() -> None:
    # Only @expose'd classes/methods are reachable (API.md §2); Pyro5's @expose on a class marks the
    # members in that class's own __dict__, so a subclass's new, undecorated methods stay private.
    class Sub(Base):
        def added_later(self) -> None:
            pass

        @property
        def added_prop(self) -> int:
            return 1

    m = members_of(Sub)
    assert "base_method" in m.methods and "base_prop" in m.attrs
    assert "added_later" not in m.methods
    assert "added_prop" not in m.attrs


def test_override_without_decorator_in_undecorated_subclass_of_undecorated_base() -> None:
    class B:
        @expose
        def f(self) -> None:
            pass

    class D(B):
        def f(self) -> None:  # overrides without @expose
            pass

    assert "f" in members_of(B).methods
    assert "f" not in members_of(D).methods


def test_behavior_inherited() -> None:
    @behavior("percall")
    class B:
        pass

    class D(B):
        pass

    assert instancing_of(D)[0] == "percall"


# -- metadata -----------------------------------------------------------------------------------


def test_as_metadata_shape() -> None:
    meta = members_of(Greeter).as_metadata()
    assert set(meta) == {"methods", "oneway", "attrs"}
    assert meta["methods"] == sorted(["hello", "log", "static", "klass", "later", "__dunder__"])
    assert meta["oneway"] == ["log"]
    assert meta["attrs"] == ["mood", "motto"]
    for value in meta.values():
        assert isinstance(value, list)
        assert value == sorted(value)
        assert all(isinstance(v, str) for v in value)


def test_members_cached_per_mode() -> None:
    assert members_of(OldStyle, True) is members_of(OldStyle, True)
    assert members_of(OldStyle, False) is members_of(OldStyle, False)
    assert members_of(OldStyle, True) is not members_of(OldStyle, False)
