"""Pyro4's ``naming_storage`` (``MemoryStorage``, ``SqlStorage``, ``DbmStorage``) has no zpyro
counterpart to import: the name server's storage is chosen by name -- ``zpyro-ns -s memory`` or
``-s sql:FILE`` (``zpyro-broker --storage``), ``startNS(storage=...)`` -- and ``dbm:`` is refused
(it cannot keep metadata)."""

raise ImportError(
    "zpyro has no naming_storage module: choose the name server's storage by name "
    "(zpyro-ns -s memory | sql:FILE, or startNS(storage=...)); dbm: is not supported"
)
