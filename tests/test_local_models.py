"""Joining a chunked model: only a file whose size and sha256 match appears; a bad chunk leaves nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assistant.errors import UsageError
from assistant.local import models


def _chunked(tmp_path: Path, parts: list[bytes], sha: str | None = None) -> tuple[models.LocalModel, list[str]]:
    site = tmp_path / "site"
    for n, data in enumerate(parts, start=1):
        pkg = site / f"tiny_chunk_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(data)
        info = site / f"tiny_chunk_part{n}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tiny-chunk-part{n}\nVersion: 1.0\n")
        (info / "RECORD").write_text(f"tiny_chunk_part{n}/data/part{n:02d}.bin,,\n")
    whole = b"".join(parts)
    model = models.LocalModel(name="tiny", title="Tiny", filename="tiny.gguf", size=len(whole),
                              sha256=sha or hashlib.sha256(whole).hexdigest(), license="MIT",
                              dist_prefix="tiny-chunk-part", n_parts=len(parts))
    return model, [str(site)]


def test_join_writes_the_verified_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))
    model, search = _chunked(tmp_path, [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3])
    path = models.join(model, search=search)
    assert path.read_bytes() == b"GGUF" + b"a" * 10 + b"b" * 7 + b"c" * 3
    assert models.path_of(model) == path


def test_a_chunk_with_other_bytes_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))
    model, search = _chunked(tmp_path, [b"GGUFaaaa", b"bbbb"], sha=hashlib.sha256(b"GGUFaaaabbbX").hexdigest())
    with pytest.raises(models.JoinError, match="sha256"):
        models.join(model, search=search)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_chunk_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))
    model, search = _chunked(tmp_path, [b"GGUFaaaa"])
    model = models.LocalModel(**{**model.__dict__, "n_parts": 2})
    with pytest.raises(models.JoinError, match="tiny-chunk-part2 is not installed"):
        models.join(model, search=search)


def test_a_file_that_fails_the_check_is_not_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    qwen = models.get("qwen2.5-coder-0.5b")
    (tmp_path / qwen.filename).write_bytes(b"not the model")
    assert models.path_of(qwen) is None
    assert "qwen2.5-coder-0.5b" not in [m.name for m in models.installed()]


def test_use_refuses_a_model_that_is_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    with pytest.raises(UsageError, match="assistant local install qwen2.5-coder-1.5b"):
        models.use("qwen2.5-coder-1.5b")


def test_an_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match="known: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, smollm2"):
        models.get("llama3")


def test_the_qwen_license_ships_with_the_package() -> None:
    text = (models.LICENSE_DIR / "LICENSE-Qwen2.5-Coder").read_text()
    assert "Apache License" in text and "Version 2.0" in text
    assert "Alibaba Cloud" in (models.LICENSE_DIR / "NOTICE-Qwen2.5-Coder").read_text()
