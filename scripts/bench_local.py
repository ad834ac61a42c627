"""The no-key path as a newcomer meets it: 20 small tasks through ``assistant run`` with no API key.

    .venv/bin/python scripts/bench_local.py [--model PATH.gguf] [--only arithmetic,time,file,direct]

Each task runs as its own ``assistant run "<task>"`` in a folder holding a few small files, with every
``*_API_KEY`` removed from the environment and a fresh ``ASSISTANT_HOME``, so the CLI starts the
embedded llama.cpp server itself (the first task pays for that) and uses its default tools. Four kinds:
arithmetic, the time, reading a file in the current folder, direct questions (facts, a translation).
An answer is right when it holds what the task asks for; junk is an exit-0 answer that loops, shows
markup or is empty (target: 0). Reports right answers (target >= 18/20 on the default model), junk,
median and max seconds per task, and the server's RSS. ``--model`` serves another GGUF
(``ASSISTANT_LOCAL_MODEL``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".venv" / "bin" / "assistant"

FILES = {
    "notes.txt": "Team notes\nThe weekly meeting is on Thursday at 10:00 in room 4B.\nBring the budget report.\n",
    "config.json": json.dumps({"project": "Nebula", "version": "2.3.1", "owner": "Dana"}, indent=2) + "\n",
    "todo.txt": "Shopping list: buy milk, eggs and coffee.\n",
}


def _has(*words: str) -> Callable[[str], bool]:
    return lambda answer: all(w.lower() in answer.lower() for w in words)


def _any(*words: str) -> Callable[[str], bool]:
    return lambda answer: any(w.lower() in answer.lower() for w in words)


def _number(value: str) -> Callable[[str], bool]:
    return lambda answer: value in re.sub(r"(?<=\d)[,\s](?=\d{3}\b)", "", answer)


def _now(check: Callable[[dt.datetime], bool]) -> Callable[[str], bool]:
    """A time check made when the answer is judged, against the clock then and a minute before."""
    return lambda answer: any(check(dt.datetime.now() - dt.timedelta(minutes=m))(answer) for m in (0, 1, 3))


def tasks() -> list[tuple[str, str, Callable[[str], bool]]]:
    return [
        ("arithmetic", "What is 17 * 23?", _number("391")),
        ("arithmetic", "What is 1234 + 5678?", _number("6912")),
        ("arithmetic", "Compute 2 to the power of 10.", _number("1024")),
        ("arithmetic", "What is 15% of 240?", _number("36")),
        ("arithmetic", "How much is 999 minus 123?", _number("876")),
        ("time", "What year is it now?", _now(lambda now: _has(str(now.year)))),
        ("time", "What month is it now?", _now(lambda now: _has(now.strftime("%B")))),
        ("time", "What day of the week is it today?", _now(lambda now: _has(now.strftime("%A")))),
        ("time", "What is today's date?", _now(lambda now: _any(now.strftime("%Y-%m-%d"), f"{now.strftime('%B')} {now.day}",
                                                               f"{now.day} {now.strftime('%B')}"))),
        ("time", "What time is it right now? Answer with hours and minutes.",
         _now(lambda now: _any(now.strftime("%H:%M"), now.strftime("%I:%M").lstrip("0")))),
        ("file", "When is the weekly meeting? The answer is in notes.txt.", _has("thursday")),
        ("file", "What is the project name in config.json?", _has("nebula")),
        ("file", "Which version is listed in config.json?", _has("2.3.1")),
        ("file", "What does todo.txt say to buy?", _has("milk")),
        ("file", "Which files are in the current folder?", _has("notes.txt", "todo.txt")),
        ("direct", "What is the capital of France?", _has("paris")),
        ("direct", "Translate 'good morning' into Spanish.", _any("buenos días", "buenos dias")),
        ("direct", "What is the chemical symbol for gold?", lambda a: re.search(r"\bAu\b", a) is not None),
        ("direct", "How many days are in a week?", _any("7", "seven")),
        ("direct", "Who wrote Romeo and Juliet?", _has("shakespeare")),
    ]


def junk(answer: str) -> bool:
    """Looping, markup or nothing: what a user must never get with exit code 0."""
    text = answer.strip()
    if not text or len(text) > 1200:
        return True
    if re.search(r"<\|?/?(tool_call|im_start|im_end|think)|\{\s*\"(tool|final_answer|name)\"", text):
        return True
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 8]
    return len(sentences) >= 3 and max(sentences.count(s) for s in set(sentences)) >= 3


def server_rss_mb(env: dict[str, str]) -> float | None:
    out = subprocess.run([str(CLI), "local", "status", "--json"], env=env, capture_output=True, text=True)
    try:
        pid = json.loads(out.stdout)["pid"]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (ValueError, KeyError, OSError, TypeError):
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a GGUF to serve instead of the default (ASSISTANT_LOCAL_MODEL)")
    parser.add_argument("--only", help="comma-separated kinds to run")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per task")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-local-home-"))
    work = Path(tempfile.mkdtemp(prefix="bench-local-cwd-"))
    for name, text in FILES.items():
        (work / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_KEYS"))}
    # The model files scripts/install.sh joined stay where it put them (the fresh home has none).
    found = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c",
                            "from assistant.local import models; print(models.models_dir())"],
                           env=env, capture_output=True, text=True)
    if found.returncode == 0 and found.stdout.strip():
        env.setdefault("ASSISTANT_MODELS_DIR", found.stdout.strip())
    env["ASSISTANT_HOME"] = str(home)
    if args.model:
        env["ASSISTANT_LOCAL_MODEL"] = str(Path(args.model).resolve())
    kinds = set(args.only.split(",")) if args.only else None
    rows, seconds, rss = [], [], None
    try:
        for kind, task, right in tasks():
            if kinds is not None and kind not in kinds:
                continue
            start = time.perf_counter()
            try:
                done = subprocess.run([str(CLI), "run", task], cwd=work, env=env, capture_output=True, text=True,
                                      timeout=args.timeout)
                answer, code = done.stdout.strip(), done.returncode
            except subprocess.TimeoutExpired:
                answer, code = "", -1
            took = time.perf_counter() - start
            seconds.append(took)
            ok = code == 0 and right(answer)
            bad = code == 0 and junk(answer)
            rows.append((kind, task, ok, bad, code, took, answer))
            mark = "right" if ok else "JUNK " if bad else "wrong" if code == 0 else f"exit {code}"
            print(f"{mark:6} {took:6.1f}s  {kind:10}  {task[:48]:48}  -> {answer[:90]!r}", flush=True)
            rss = server_rss_mb(env) or rss
    finally:
        subprocess.run([str(CLI), "local", "stop"], env=env, capture_output=True)
    right_n = sum(r[2] for r in rows)
    junk_n = sum(r[3] for r in rows)
    wrong_exit0 = sum(1 for r in rows if r[4] == 0 and not r[2])
    print()
    print(f"right answers            {right_n}/{len(rows)}   (target >= 18/20 on the default model)")
    print(f"junk answers with exit 0 {junk_n}   (target 0); wrong answers with exit 0: {wrong_exit0}")
    print(f"seconds per task         median {statistics.median(seconds):.1f}, max {max(seconds):.1f}")
    print(f"server RSS               {rss:.0f} MB" if rss else "server RSS               unknown")
    sys.exit(0)


if __name__ == "__main__":
    main()
