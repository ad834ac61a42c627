"""Names a module re-exports but loads only when first looked up (the cold start of the main names).

    __getattr__ = late_names(__name__, {"RunResult": ".records"})

The returned function is the module's ``__getattr__``: it imports the named module (relative to the
package), stores the value in the module's globals, so the next lookup is a plain global, and returns it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["late_names"]


def late_names(module: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that loads each of ``table``'s names from its module on first lookup."""

    def __getattr__(name: str) -> Any:
        source = table.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, module), name)
        vars(sys.modules[module])[name] = value
        return value

    return __getattr__
