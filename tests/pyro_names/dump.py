"""Print JSON {group: [names]} of the public API of the installed Pyro4 or Pyro5.

Run by tests/test_porting_table.py with the Python that has the package (`dump.py Pyro4|Pyro5`).
"""
import inspect, json, sys

SKIP = {"log", "config", "print_function", "division", "absolute_import", "name"}

def own(m, include_imported=False):
    out = []
    for n in dir(m):
        if n.startswith("_") or n in SKIP:
            continue
        v = getattr(m, n)
        if inspect.ismodule(v):
            continue
        mod = getattr(v, "__module__", None)
        if include_imported or mod is None or mod == m.__name__:
            out.append(n)  # (names imported from elsewhere -- typing, threading -- are not its API)
    return out

def members(cls):
    return [n for n in vars(cls) if (not n.startswith("_") or n.startswith("_pyro")) and not n.startswith("__")]

which = sys.argv[1]
groups = {}
if which == "Pyro4":
    import Pyro4, Pyro4.core, Pyro4.naming, Pyro4.util, Pyro4.errors, Pyro4.socketutil, Pyro4.constants, Pyro4.message, Pyro4.futures
    groups["Pyro4"] = own(Pyro4, include_imported=True)
    for m in (Pyro4.core, Pyro4.naming, Pyro4.util, Pyro4.errors, Pyro4.socketutil, Pyro4.constants, Pyro4.message, Pyro4.futures):
        groups[m.__name__] = own(m)
    groups["config"] = sorted(Pyro4.config.asDict())
    groups["Proxy"] = members(Pyro4.core.Proxy)
    groups["Daemon"] = members(Pyro4.core.Daemon)
    groups["URI"] = members(Pyro4.core.URI)
    groups["FutureResult"] = members(Pyro4.futures.FutureResult)
    groups["Future"] = members(Pyro4.futures.Future)
    groups["current_context"] = [n for n in vars(Pyro4.core.current_context) if not n.startswith("_")] + members(type(Pyro4.core.current_context))
    groups["SerializerBase"] = members(Pyro4.util.SerializerBase)
    groups["NameServer"] = members(Pyro4.naming.NameServer)
    groups["DaemonObject"] = members(Pyro4.core.DaemonObject)
else:
    import Pyro5, Pyro5.api, Pyro5.core, Pyro5.nameserver, Pyro5.errors, Pyro5.socketutil, Pyro5.client, Pyro5.server, Pyro5.protocol, Pyro5.serializers, Pyro5.callcontext
    from Pyro5 import config
    groups["Pyro5.api"] = list(Pyro5.api.__all__)
    for m in (Pyro5.core, Pyro5.nameserver, Pyro5.errors, Pyro5.socketutil, Pyro5.client, Pyro5.server, Pyro5.protocol):
        groups[m.__name__] = own(m)
    groups["config"] = sorted(config.as_dict())
    groups["Proxy"] = members(Pyro5.client.Proxy)
    groups["Daemon"] = members(Pyro5.server.Daemon)
    groups["current_context"] = [n for n in vars(Pyro5.callcontext.current_context) if not n.startswith("_")] + members(type(Pyro5.callcontext.current_context))
json.dump(groups, sys.stdout)
