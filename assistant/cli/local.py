"""``assistant local start|stop|status``: the embedded llama.cpp server with SmolLM2."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .. import local

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("local", help="start, stop or inspect the embedded local model server")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start the llama.cpp server with SmolLM2 on 127.0.0.1")
    start.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    start.add_argument("--ctx-size", type=int, default=local.DEFAULT_CTX, help="context window in tokens")
    start.add_argument("--threads", type=int, default=1, help="CPU threads (1 is fastest on small machines)")
    start.add_argument("--name", default="default", help="run several servers side by side under different names")
    start.set_defaults(handler=_start)
    stop = actions.add_parser("stop", help="stop the server")
    stop.add_argument("--name", default="default")
    stop.set_defaults(handler=_stop)
    status = actions.add_parser("status", help="show whether the server runs, and where")
    status.add_argument("--name", default="default")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)


def _start(args: argparse.Namespace) -> int:
    try:
        info = local.start(port=args.port, ctx_size=args.ctx_size, threads=args.threads, name=args.name)
    except local.LocalModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"local model {info.model} running at {info.url} (pid {info.pid}, ctx {info.ctx_size})")
    print(f"use it as llama/{info.model}; set LLAMA_BASE_URL={info.url} for other tools")
    return 0


def _stop(args: argparse.Namespace) -> int:
    if local.stop(name=args.name):
        print("local model stopped")
    else:
        print("local model was not running")
    return 0


def _status(args: argparse.Namespace) -> int:
    info = local.status(name=args.name)
    if args.json:
        print(json.dumps(None if info is None else {**info.__dict__, "installed": local.available()}))
        return 0 if info else 1
    if info is None:
        installed = "installed" if local.available() else f"not installed ({local.INSTALL_HINT})"
        print(f"local model not running; {installed}. Start it with: assistant local start")
        return 1
    print(f"running at {info.url} (pid {info.pid}, model {info.model}, ctx {info.ctx_size}, "
          f"up {time.time() - info.started_at:.0f}s)")
    return 0
