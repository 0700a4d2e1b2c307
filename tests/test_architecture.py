"""The shape of the library, checked from its source: no import cycles, one home per protocol name.

The import graph is read with ``ast`` from every module of the ``zpyro`` package (and of the
broker), counting imports inside functions too: an import moved into a function to dodge a cycle
at load time is still a cycle in the design. A package's implicit import of its parent is not
counted (``import zpyro.wire`` runs ``zpyro/__init__.py`` first, which imports everything).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import zpyro

pytestmark = pytest.mark.timeout(30)

ROOT = Path(zpyro.__file__).resolve().parent.parent
# folder -> the package name it installs as (broker/ is zpyro.broker: setup.cfg package_dir)
PACKAGES = {
    p: name
    for p, name in ((ROOT / "zpyro", "zpyro"), (ROOT / "broker", "zpyro.broker"))
    if (p / "__init__.py").exists()
}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages (subpackages included)."""
    found: dict[str, Path] = {}
    for package, package_name in PACKAGES.items():
        for path in sorted(package.rglob("*.py")):
            parts = [package_name, *path.relative_to(package).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of `modules` that module `name` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                if node.module:
                    base.append(node.module)
                origin = ".".join(base)
            else:
                origin = node.module or ""
            for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
                sub = f"{origin}.{alias.name}"
                targets.add(sub if sub in modules else origin)
    return {t for t in targets if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    names = set(files)
    return {name: imports_of(name, path, names) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_is_read_from_the_source() -> None:
    """Not a vacuous pass: known edges are there, also one made inside a function."""
    graph = import_graph()
    assert "zpyro.dispatch" in graph["zpyro.server"]
    assert "zpyro.wire" in graph["zpyro.serializers"]
    assert "zpyro.client" in graph["zpyro"]  # the package's own re-exports
    assert "zpyro.broker.inprocess" in graph["zpyro.naming.pyro"]  # startNS, imported when called
    assert "zpyro.broker.nameserver" in graph["zpyro.broker.service"]  # relative, in broker/
    assert len(graph) > 30


def test_the_cycle_finder_finds_cycles(tmp_path: Path) -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from . import other\n")
    assert imports_of("pkg.m", source, {"pkg.m", "pkg.other"}) == {"pkg.other"}


# The protocol's reserved names live in zpyro/wire.py, announcement kinds in zpyro/announce.py;
# any other module takes them from there instead of spelling them again.
RESERVED = {
    "Pyro.Daemon": "zpyro.wire",
    "Pyro.NameServer": "zpyro.wire",
    "Pyro.Daemon:": "zpyro.wire",
    "__getattr__": "zpyro.wire",
    "__setattr__": "zpyro.wire",
    "release_session": "zpyro.wire",
    "name.registered": "zpyro.announce",
    "name.removed": "zpyro.announce",
    "daemon.joined": "zpyro.announce",
    "daemon.left": "zpyro.announce",
    "broker.alive": "zpyro.announce",
}


def test_protocol_names_are_spelled_in_one_module() -> None:
    strays = []
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                home = RESERVED.get(node.value)
                if home is not None and home != name:
                    strays.append(f"{name}:{node.lineno}: {node.value!r} (belongs in {home})")
    assert not strays, "\n".join(strays)


def test_serializer_ids_come_from_the_wire_module() -> None:
    from zpyro import wire
    from zpyro.serializers import SERIALIZERS

    ids = {s.name: s.serializer_id for s in SERIALIZERS.values()}
    assert ids == {
        "serpent": wire.SERPENT_ID,
        "json": wire.JSON_ID,
        "msgpack": wire.MSGPACK_ID,
        "marshal": wire.MARSHAL_ID,
        "pickle": wire.PICKLE_ID,
    }
