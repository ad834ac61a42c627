"""Many writers on one free-models.json: nothing lost across processes and threads, and a writer
killed with SIGKILL in the middle of a write never leaves a broken file."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from assistant.free_models import FreeModelsStore

WORKER = textwrap.dedent("""
    import sys
    from assistant.free_models import FreeModelsStore

    path, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = FreeModelsStore(path)
    for i in range(count):
        model_id = f"groq/w{worker}-m{i}"
        store.add_model({"id": model_id})
        store.update_model(model_id, notes=f"updated by worker {worker}", supports_tools=True)
        if i % 3 == 0:
            store.remove_model(model_id)
""")

WRITER = textwrap.dedent("""
    import sys
    from assistant.free_models import FreeModelsStore

    store = FreeModelsStore(sys.argv[1])
    padding = "x" * 2_000_000  # big enough that a kill lands inside a write
    i = 0
    while True:
        store.update_model("groq/big", notes=f"{i} {padding}")
        print(i, flush=True)
        i += 1
""")


def run_script(tmp_path: Path, source: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    if not script.exists():
        script.write_text(source)
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_four_processes_with_interleaved_writes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "free-models.json"
    count = 12
    workers = [run_script(tmp_path, WORKER, str(path), str(w), str(count)) for w in range(4)]
    for proc in workers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    models = {m.id: m for m in FreeModelsStore(path).list_models()}
    expected = {f"groq/w{w}-m{i}" for w in range(4) for i in range(count) if i % 3}
    assert set(models) == expected
    for w in range(4):
        assert all(models[i].notes == f"updated by worker {w}" for i in expected if i.startswith(f"groq/w{w}-"))
    assert all(m.supports_tools for m in models.values())


def wait_for_temp_file(directory: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(directory.glob(".free-models.json.*.tmp")):
        assert time.monotonic() < deadline, "the writer never started a write"
        time.sleep(0.0002)


@pytest.mark.parametrize("moment", ["while a temp file is being written", "at a random moment"])
def test_a_writer_killed_mid_write_never_leaves_a_broken_file(tmp_path: Path, moment: str) -> None:
    path = tmp_path / "free-models.json"
    ids = ["groq/big", "groq/other", "openrouter/third:free"]
    store = FreeModelsStore(path)
    for model_id in ids:
        store.add_model(model_id)
    rng = random.Random(4)
    for _ in range(3):
        with run_script(tmp_path, WRITER, str(path)) as writer:
            assert writer.stdout is not None
            writer.stdout.readline()  # one write done; it is looping now
            if moment.startswith("while"):
                wait_for_temp_file(tmp_path)
            else:
                time.sleep(rng.uniform(0.0, 0.05))
            writer.send_signal(signal.SIGKILL)
        assert [m["id"] for m in json.loads(path.read_text())["models"]] == ids
        assert [m.id for m in FreeModelsStore(path).list_models()] == ids


def test_the_next_write_clears_temp_files_left_by_a_killed_writer(tmp_path: Path) -> None:
    path = tmp_path / "free-models.json"
    FreeModelsStore(path).add_model("groq/a")
    orphan = tmp_path / ".free-models.json.k1ll3d.tmp"
    orphan.write_text('{"half": ')
    FreeModelsStore(path).add_model("groq/b")
    assert not orphan.exists()


@pytest.mark.parametrize("stores", [1, 2])
def test_threads_adding_at_once_lose_nothing(tmp_path: Path, stores: int) -> None:
    path = tmp_path / "free-models.json"
    shared = [FreeModelsStore(path) for _ in range(stores)]
    errors: list[BaseException] = []

    def add(thread: int) -> None:
        try:
            for i in range(10):
                shared[thread % stores].add_model(f"groq/t{thread}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(FreeModelsStore(path).list_models()) == 60
