"""The free-model list: which no-cost models the ``"auto"`` chain tries, in what order.

``free-models.json`` holds a ``version``, free-text ``notes`` and a list of ``FreeModel`` entries. The
store finds it at: the ``path`` argument (``--file``), ``ASSISTANT_FREE_MODELS``, else a user copy (in
the config dir) of the list shipped with the package, made on first use. A ``free-models.json`` in the
working directory (a checkout's tracked copy) is used only when named, and nothing is ever written
into site-packages. Each write is locked (a thread lock and a lock file in the state dir, never beside
the list) and atomic; each read sees what any process last wrote. Bad input raises ``UsageError`` (a
ValueError) or ``UnknownModelError`` (a KeyError) and leaves the file as it was.

    store = FreeModelsStore()
    store.add_model(FreeModel(id="groq/llama-3.1-8b-instant", supports_tools=True))
    chain = store.fallback_chain(tools=True)       # local first, then by priority

Part (model choice, with ``catalog``): the user's free-models file (``_file`` holds the format and
its migrations), the fallback chains made from it, and model roles (``roles``). May import: messages, errors,
files, providers, local, registry, catalog.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..files.lazy import late_names
from ..files.paths import config_dir, data_dir, state_dir

if TYPE_CHECKING:  # bound at run time by _bind()
    import hashlib

    from ..errors import UsageError
    from ..files.store import BrokenFileError, file_lock, read_json, write_atomic, write_json_atomic
    from ._file import CURRENT_VERSION, FREE_ROLES, Contents, FreeModel, FreeRole, document, parse, validated

__all__ = [
    "FreeModel",
    "FreeModelsStore",
    "FreeRole",
    "FREE_ROLES",
    "UnknownModelError",
    "BrokenFileError",
    "CURRENT_VERSION",
    "resolve_path",
    "packaged_default",
]

FILE_NAME = "free-models.json"
_PRIORITY_STEP = 10

# Importing the store loads neither pydantic nor the entry format: the first ``FreeModelsStore()``
# binds what its methods use (``_bind``), and these names load when first looked up here.
_LATE = {"FreeModel": "._file", "FreeRole": "._file", "FREE_ROLES": "._file", "CURRENT_VERSION": "._file",
         "BrokenFileError": "..files.store"}
_bound = False


def _bind() -> None:
    """Bind the entry format and the file helpers the store's methods use, as globals of this module:
    once, by the first store, so ``from assistant import FreeModelsStore`` stays cheap (issue 14) and
    no call pays an import statement."""
    global _bound, hashlib, UsageError, file_lock, read_json, write_atomic, write_json_atomic
    global Contents, FreeModel, document, parse, validated
    import hashlib

    from ..errors import UsageError
    from ..files.store import file_lock, read_json, write_atomic, write_json_atomic
    from ._file import Contents, FreeModel, document, parse, validated
    _bound = True


__getattr__ = late_names(__name__, _LATE)


class _Registry(Protocol):
    def configured(self, provider: str) -> bool: ...


class UnknownModelError(KeyError):
    """No entry with that id; the message lists the ids that exist."""

    def __init__(self, ids: Iterable[str], known: Iterable[str], path: Path) -> None:
        missing = ", ".join(repr(i) for i in ids)
        known = list(known)
        shown = ", ".join(known[:12]) + (f" ... ({len(known)} in all)" if len(known) > 12 else "")
        self.message = f"no free model {missing} in {path}; known ids: {shown or '(none)'}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def packaged_default() -> bytes:
    """The free-model list shipped with the package (``assistant/data/free-models.json``)."""
    return (Path(__file__).parent.parent / "data" / FILE_NAME).read_bytes()


def resolve_path(path: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """``(path, is_user_copy)``: the argument, ``ASSISTANT_FREE_MODELS``, else the user copy in the
    config dir (made from the packaged default on first use; an older copy in the data dir moves there)."""
    if path is not None:
        return Path(path).expanduser(), False
    env = os.environ.get("ASSISTANT_FREE_MODELS", "").strip()
    if env:
        return Path(env).expanduser(), False
    user = config_dir() / FILE_NAME
    legacy = data_dir() / FILE_NAME
    if not user.exists() and legacy.is_file() and legacy != user:
        with contextlib.suppress(OSError):
            os.replace(legacy, user)
    return user, True


def _lock_for(path: Path) -> Any:
    # In the state dir, keyed by the list's absolute path: a lock file beside a checkout's
    # free-models.json would land in the working tree.
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    locks = state_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return file_lock(locks / f"free-models-{key}")


# --- the store -----------------------------------------------------------------------------------

T = TypeVar("T")


class FreeModelsStore:
    """Thread- and process-safe CRUD over one ``free-models.json``; reads are cached by file stat."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if not _bound:
            _bind()
        self.path, self._user_copy = resolve_path(path)
        self._lock = threading.RLock()
        self._file_lock = _lock_for(self.path)
        self._cache: tuple[tuple[int, ...] | None, Contents] | None = None
        # Counts the list's changes this store has seen (its own writes, a re-read of an edited file):
        # what a caller that keeps a chain made from it compares (the router's plans of "auto").
        self.changes = 0

    def __repr__(self) -> str:
        return f"FreeModelsStore(path={str(self.path)!r})"

    # -- reading

    def list_models(self) -> list[FreeModel]:
        """Every entry in priority order (disabled ones too).

            ids = [m.id for m in store.list_models()]
        """
        return list(self._contents().models)

    def get_model(self, model_id: str) -> FreeModel:
        """The entry with ``model_id``; ``UnknownModelError`` (a KeyError) when there is none."""
        models = self._contents().models
        for model in models:
            if model.id == model_id:
                return model
        raise UnknownModelError([model_id], [m.id for m in models], self.path)

    def fallback_chain(self, tools: bool = False, registry: _Registry | None = None) -> list[FreeModel]:
        """Enabled entries, local first, then by priority (stable for ties), the embedded model last
        (``_embedded_last``). ``tools=True`` keeps only entries with tool support that are not flash
        models. With ``registry``, entries whose provider
        is not configured there (no key) are dropped.

            for entry in store.fallback_chain(tools=True, registry=registry): ...
        """
        chain = sorted((m for m in self._contents().models if m.enabled), key=lambda m: (not m.local, m.priority))
        chain = _embedded_last(chain)
        if tools:
            chain = [m for m in chain if m.supports_tools and not m.flash]
        if registry is not None:
            usable: dict[str, bool] = {}
            chain = [m for m in chain if usable.setdefault(m.provider, _configured(registry, m.provider))]
        return chain

    def interim_model(self, registry: _Registry | None = None) -> FreeModel | None:
        """The model for quick "working on it" replies: the first enabled ``interim`` entry in chain
        order, else the first flash entry, else the chain head (None for an empty chain)."""
        return self._for_role("interim", registry)

    def greeting_model(self, registry: _Registry | None = None) -> FreeModel | None:
        """Like ``interim_model`` for the ``greeting`` role."""
        return self._for_role("greeting", registry)

    def _for_role(self, role: str, registry: _Registry | None) -> FreeModel | None:
        chain = self.fallback_chain(registry=registry)
        return (
            next((m for m in chain if role in m.roles), None)
            or next((m for m in chain if m.flash), None)
            or (chain[0] if chain else None)
        )

    # -- writing

    def add_model(self, model: FreeModel | Mapping[str, Any] | str) -> FreeModel:
        """Append an entry (a ``FreeModel``, a dict of its fields or a bare id). Without an explicit
        ``priority`` it goes after the last entry. A duplicate id raises ``UsageError``.

            store.add_model({"id": "groq/llama-3.1-8b-instant", "supports_tools": True})
        """
        entry = model if isinstance(model, FreeModel) else validated({"id": model} if isinstance(model, str) else model)

        def change(models: list[FreeModel]) -> tuple[FreeModel, list[FreeModel]]:
            if any(m.id == entry.id for m in models):
                raise UsageError(f"free model {entry.id!r} is already in {self.path}; update it instead")
            added = entry
            if "priority" not in entry.model_fields_set:
                added = entry.model_copy(update={"priority": max((m.priority for m in models), default=0) + _PRIORITY_STEP})
            return added, [*models, added]

        return self._mutate(change)

    def update_model(self, model_id: str, **changes: Any) -> FreeModel:
        """Change fields of one entry; unknown ids raise ``UnknownModelError``, unknown fields or
        wrong types ``UsageError``.

            store.update_model("groq/llama-3.1-8b-instant", enabled=False)
        """
        unknown = sorted(set(changes) - set(FreeModel.model_fields))
        if unknown:
            raise UsageError(f"unknown field(s) {', '.join(unknown)}; fields are: {', '.join(FreeModel.model_fields)}")

        def change(models: list[FreeModel]) -> tuple[FreeModel, list[FreeModel]]:
            index = self._index(models, model_id)
            data = {**models[index].model_dump(), **changes}
            # An entry loaded from disk may name a provider declared elsewhere; only a new id is checked.
            updated = validated(data, strict_provider="id" in changes)
            if updated.id != model_id and any(m.id == updated.id for m in models):
                raise UsageError(f"cannot rename {model_id!r} to {updated.id!r}: that id is already in {self.path}")
            models[index] = updated
            return updated, models

        return self._mutate(change)

    def remove_model(self, model_id: str) -> FreeModel:
        """Delete one entry and return it; unknown ids raise ``UnknownModelError``."""

        def change(models: list[FreeModel]) -> tuple[FreeModel, list[FreeModel]]:
            removed = models.pop(self._index(models, model_id))
            return removed, models

        return self._mutate(change)

    def reorder_models(self, ids: Iterable[str]) -> list[FreeModel]:
        """Give entries new priorities: ``ids`` is a full permutation, or a partial list that moves to
        the front in that order (the rest keep their relative order). Returns the new order.

            store.reorder_models(["groq/llama-3.1-8b-instant"])   # now first
        """
        if isinstance(ids, str):
            raise UsageError("reorder_models takes a list of ids, not one string")
        wanted = list(ids)
        if not wanted:
            raise UsageError("reorder_models needs at least one id")
        repeated = sorted({i for i in wanted if wanted.count(i) > 1})
        if repeated:
            raise UsageError(f"reorder_models got an id more than once: {', '.join(repeated)}")

        def change(models: list[FreeModel]) -> tuple[list[FreeModel], list[FreeModel]]:
            by_id = {m.id: m for m in models}
            missing = [i for i in wanted if i not in by_id]
            if missing:
                raise UnknownModelError(missing, by_id, self.path)
            order = [by_id[i] for i in wanted] + [m for m in models if m.id not in set(wanted)]
            renumbered = [m.model_copy(update={"priority": (n + 1) * _PRIORITY_STEP}) for n, m in enumerate(order)]
            return renumbered, renumbered

        return self._mutate(change)

    # -- plumbing

    def _index(self, models: list[FreeModel], model_id: str) -> int:
        for index, model in enumerate(models):
            if model.id == model_id:
                return index
        raise UnknownModelError([model_id], [m.id for m in models], self.path)

    def _contents(self) -> Contents:
        with self._lock:
            if self._user_copy and not self.path.exists():
                self._make_user_copy()
            # Stat before reading: a replace in between only costs one extra read next time.
            signature = _signature(self.path)
            if self._cache is None or self._cache[0] != signature:
                self._cache = (signature, self._read())
                self.changes += 1
            return self._cache[1]

    def _read(self) -> Contents:
        loaded = read_json(self.path)
        if loaded is None:
            return Contents((), [])
        return parse(*loaded, self.path)

    def _make_user_copy(self) -> None:
        with self._file_lock:
            if not self.path.exists():
                write_atomic(self.path, packaged_default())

    def _mutate(self, change: Callable[[list[FreeModel]], tuple[T, list[FreeModel]]]) -> T:
        with self._lock, self._file_lock:
            if self._user_copy and not self.path.exists():
                write_atomic(self.path, packaged_default())
            current = self._read()
            result, models = change(list(current.models))
            updated = Contents(tuple(sorted(models, key=lambda m: m.priority)), current.notes)
            write_json_atomic(self.path, document(updated))
            # Holding the file lock, nobody else wrote since: what is on disk is ``updated``.
            self._cache = (_signature(self.path), updated)
            self.changes += 1
            return result


def _embedded_last(chain: list[FreeModel]) -> list[FreeModel]:
    """An enabled entry for the embedded model (``llama/smollm2`` in the shipped list) stands for the
    model the embedded server really serves (``assistant local use``), and goes last: it is the
    fallback when keyed providers fail. The agent drives it with grammar-constrained actions, so it
    serves steps with tools too."""
    from ..local import model_id
    from ..local.models import MODELS

    embedded = [m for m in chain if m.provider in ("llama", "llamacpp", "llama.cpp") and m.model in MODELS]
    if not embedded:
        return chain
    rest = [m for m in chain if m not in embedded]
    served = model_id()
    entry = embedded[0]
    window = entry.context_window if entry.id == served else None
    return [*rest, entry.model_copy(update={"id": served, "supports_tools": True, "local": True, "context_window": window})]


def _configured(registry: _Registry, provider: str) -> bool:
    try:
        return bool(registry.configured(provider))
    except (UsageError, KeyError):
        return False


def _signature(path: Path) -> tuple[int, ...] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
