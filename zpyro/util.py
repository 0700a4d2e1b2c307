"""Pyro4-compatible traceback helpers (ported code keeps calling `util.getPyroTraceback`)."""

from __future__ import annotations

import sys

from . import errors

__all__ = ["getPyroTraceback", "excepthook", "get_remote_traceback"]

excepthook = errors.excepthook
get_remote_traceback = errors.get_remote_traceback


def getPyroTraceback(exc: BaseException | None = None) -> list[str]:
    """Local traceback lines of `exc` (default: the one being handled) plus its remote traceback."""
    if exc is None:
        exc = sys.exc_info()[1]
    if exc is None:
        return []
    return errors._traceback_lines(type(exc), exc, exc.__traceback__)
