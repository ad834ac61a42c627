"""The ``assistant`` command. One module per command group; each has ``register(subparsers)`` and
sets ``handler`` to a function ``(args) -> int`` (the exit code). No business logic lives here.

Part: the ``assistant`` command, one module per command group; renders events, holds no engine logic.
May import every part.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import LLMError, UsageError

__all__ = ["main", "build_parser"]

# (module, command group) in the order `assistant --help` lists them.
_GROUPS = ("run", "chat", "models", "free_models", "doctor", "local", "keys")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Run agent tasks on whatever model you can reach, free models first.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _GROUPS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
