"""scripts/bench_peers.py runs end to end whether or not the optional peers are installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_peers.py"
PEERS = {"openai SDK": "openai", "LiteLLM acompletion": "litellm", "LiteLLM Router": "litellm",
         "pydantic-ai Agent": "pydantic_ai"}


def test_the_peer_comparison_measures_ours_and_lists_each_missing_peer_as_not_installed() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--calls", "1", "--runs", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in done.stdout.splitlines() if line.startswith("| ")}
    for ours in ("raw aiohttp", "assistant client", "assistant Router"):
        assert "not installed" not in rows[ours]
    for peer, module in PEERS.items():
        assert ("not installed" in rows[peer]) == (importlib.util.find_spec(module) is None)
