"""Recognition methods: the contract every method follows (:class:`.base.MethodBase`,
:class:`.base.TileOutput`) and the built-in ``classical`` and ``psm``.

Methods are built by name through :mod:`..registry` (``get_method``).
"""

from .base import Method, MethodBase, TileOutput

__all__ = ["Method", "MethodBase", "TileOutput"]
