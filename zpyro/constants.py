"""Pyro4's ``constants`` module (``Pyro4.constants.DAEMON_NAME`` and friends), with zpyro's values.

Ported code keeps reading them; ``VERSION`` is zpyro's own version (``zpyro.__version__``).
"""

from __future__ import annotations

from .wire import DAEMON_OBJECT_ID, NAMESERVER_ID
from .wire import VERSION as PROTOCOL_VERSION

__all__ = ["VERSION", "DAEMON_NAME", "NAMESERVER_NAME", "FLAME_NAME", "PROTOCOL_VERSION"]

VERSION = "0.1.0"
DAEMON_NAME = DAEMON_OBJECT_ID  # every daemon's own object
NAMESERVER_NAME = NAMESERVER_ID  # the name server's object (served by the broker)
FLAME_NAME = "Pyro.Flame"  # (the name Pyro's Flame would have; zpyro has no Flame)
