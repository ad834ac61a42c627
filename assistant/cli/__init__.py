"""The ``assistant`` command. One module per command group; each has ``register(subparsers)`` and
sets ``handler`` to a function ``(args) -> int`` (the exit code). No business logic lives here.

Part: the ``assistant`` command, one module per command group; renders events, holds no engine logic.
May import every part.
"""

from __future__ import annotations

import argparse
import contextlib
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
    parser.add_argument("--version", action="version", version=f"assistant {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _GROUPS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("assistant")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`assistant ... | head`): stop quietly, like other Unix tools. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        import os

        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: list[str] | None) -> int:
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
