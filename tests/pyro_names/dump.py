"""Print JSON ``{group: [names]}``: the public API of the installed Pyro4 or Pyro5.

Run by tests/test_porting_table.py with the Python that has the package:
``python dump.py Pyro4`` or ``python dump.py Pyro5``. Only the standard library and Pyro.
"""

import importlib
import inspect
import json
import sys

SKIP = {"log", "config", "print_function", "division", "absolute_import", "name"}

MODULES = {
    "Pyro4": ["core", "naming", "util", "errors", "socketutil", "constants", "message", "futures"],
    "Pyro5": ["core", "nameserver", "errors", "socketutil", "client", "server", "protocol"],
}


def own(module, include_imported=False):
    """Public names defined by `module` itself (names it imports from elsewhere -- typing,
    threading -- are not its API)."""
    out = []
    for name in dir(module):
        if name.startswith("_") or name in SKIP:
            continue
        value = getattr(module, name)
        if inspect.ismodule(value):
            continue
        origin = getattr(value, "__module__", None)
        if include_imported or origin is None or origin == module.__name__:
            out.append(name)
    return out


def members(cls):
    """A class's public names and its ``_pyro`` ones."""
    return [
        n for n in vars(cls) if (not n.startswith("_") or n.startswith("_pyro")) and "__" not in n
    ]


def context_names(context):
    return [n for n in vars(context) if not n.startswith("_")] + members(type(context))


def main(which):
    package = importlib.import_module(which)
    mods = {m: importlib.import_module(f"{which}.{m}") for m in MODULES[which]}
    groups = {f"{which}.{m}": own(mod) for m, mod in mods.items()}
    if which == "Pyro4":
        core, futures = mods["core"], mods["futures"]
        groups["Pyro4"] = own(package, include_imported=True)
        groups["config"] = sorted(package.config.asDict())
        groups["Proxy"] = members(core.Proxy)
        groups["Daemon"] = members(core.Daemon)
        groups["URI"] = members(core.URI)
        groups["DaemonObject"] = members(core.DaemonObject)
        groups["FutureResult"] = members(futures.FutureResult)
        groups["Future"] = members(futures.Future)
        groups["current_context"] = context_names(core.current_context)
        groups["SerializerBase"] = members(mods["util"].SerializerBase)
        groups["NameServer"] = members(mods["naming"].NameServer)
    else:
        api = importlib.import_module("Pyro5.api")
        groups["Pyro5.api"] = list(api.__all__)
        groups["config"] = sorted(api.config.as_dict())
        groups["Proxy"] = members(mods["client"].Proxy)
        groups["Daemon"] = members(mods["server"].Daemon)
        groups["current_context"] = context_names(api.current_context)
    json.dump(groups, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
