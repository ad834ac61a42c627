"""Benchmark token counting and compaction (issue 6).

    python scripts/bench_context.py                 # heuristic, tiktoken (if its file is on disk), compaction, skip cost
    python scripts/bench_context.py --local         # also start the embedded llama.cpp server: exact counts + calibration
    python scripts/bench_context.py --llama-url http://127.0.0.1:8080

Reports, each against a baseline measured in the same run:
- cost per 1k tokens of each counting method (baseline: ``len(text.split())``, a naive word count);
- the heuristic's accuracy against the llama.cpp tokenizer (SmolLM2) when a server is reachable;
- compaction time for a 50-turn history (summarise with an instant fake, and drop-only);
- the router's skip decision per candidate: ``estimate_tokens`` on a cached 20-message history plus
  the window check (target < 0.2 ms), against a bare loop over the same messages.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.context import (  # noqa: E402
    _encodings,
    compact,  # noqa: E402
    tokens,
)
from assistant.messages import Message, ToolCall  # noqa: E402


def corpus() -> dict[str, str]:
    """Text of several kinds from this repository (prose, code, JSON) plus CJK and Cyrillic."""
    def read(pattern: str, limit: int = 200_000) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(ROOT.glob(pattern)))[:limit]

    return {
        "prose": read("*.md") + read("../shared/*.md"),
        "code": read("assistant/**/*.py"),
        "json": read("tests/fixtures/wire/*.json"),
        "cjk": "人工智能是计算机科学的一个分支，它企图了解智能的实质。日本語の文章はトークンが多くなりがちです。" * 200,
        "cyrillic": "Искусственный интеллект — это свойство интеллектуальных систем выполнять творческие функции. " * 200,
    }


def timed(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def chunks(text: str, size: int = 4000) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size) if text[i : i + size].strip()]


def bench_counting(texts: dict[str, str], llama_url: str | None) -> None:
    print("== counting cost per 1k tokens (fresh text, no cache) ==")
    pieces = [c for text in texts.values() for c in chunks(text)]
    total = sum(tokens.heuristic_text_tokens(p) for p in pieces)
    per_k = lambda seconds: seconds / total * 1000 * 1e6  # noqa: E731  microseconds per 1k tokens
    baseline = timed(lambda: [len(p.split()) for p in pieces])
    heuristic = timed(lambda: [tokens.heuristic_text_tokens(p) for p in pieces])
    print(f"baseline word count  {per_k(baseline):9.2f} us/1k tokens")
    print(f"heuristic            {per_k(heuristic):9.2f} us/1k tokens  ({heuristic / baseline:6.1f}x baseline)")
    for name in ("o200k_base", "cl100k_base"):
        enc = _encodings.wait_for(name, 30.0)
        if enc is None:
            print(f"tiktoken {name:11s}  not measured: no encoding file on disk (see assistant.context._encodings)")
            continue
        cost = timed(lambda: [len(enc.encode_ordinary(p)) for p in pieces])
        print(f"tiktoken {name:11s} {per_k(cost):9.2f} us/1k tokens  ({cost / baseline:6.1f}x baseline)")
    if llama_url:
        exact = asyncio.run(_exact_cost(llama_url, pieces[:40]))
        sample_tokens = sum(tokens.heuristic_text_tokens(p) for p in pieces[:40])
        print(f"llama.cpp /tokenize  {exact / sample_tokens * 1000 * 1e6:9.2f} us/1k tokens  "
              f"({exact / sample_tokens / (baseline / total):6.0f}x baseline; one HTTP round trip per prompt)")


async def _exact_cost(url: str, pieces: list[str]) -> float:
    messages = [[Message.user(p)] for p in pieces]
    started = time.perf_counter()
    for m in messages:
        await tokens.count_tokens_exact(url, m)
    return time.perf_counter() - started


def bench_accuracy(texts: dict[str, str], llama_url: str) -> None:
    print("\n== heuristic / llama.cpp SmolLM2 tokens (>1 overestimates; <1 would risk an overflow) ==")
    ratios = asyncio.run(_ratios(llama_url, texts))
    every = []
    for kind, values in ratios.items():
        every += values
        print(f"{kind:9s} median {statistics.median(values):5.2f}  min {min(values):5.2f}  max {max(values):5.2f}  (n={len(values)})")
    under = sum(r < 1 for r in every) / len(every)
    print(f"all       median {statistics.median(every):5.2f}  under-estimated {under:.0%} of {len(every)} samples")


async def _ratios(url: str, texts: dict[str, str]) -> dict[str, list[float]]:
    from assistant.providers._http import HTTPClient

    http = HTTPClient("llama", url)
    out: dict[str, list[float]] = {}
    try:
        for kind, text in texts.items():
            for piece in chunks(text, 3000)[:25]:
                exact = len((await http.post_json("/tokenize", {"content": piece}))["tokens"])
                out.setdefault(kind, []).append(tokens.heuristic_text_tokens(piece) / exact)
    finally:
        await http.aclose()
    return out


def history(turns: int) -> list[Message]:
    messages = [Message.system("You are a helpful assistant.")]
    for i in range(turns):
        call = ToolCall(id=f"c{i}", name="search", arguments={"q": f"topic {i}"})
        messages += [
            Message.user(f"Question {i}: what about topic {i}? " + "Some context. " * 20),
            Message.assistant("", tool_calls=[call]),
            Message.tool(f"result {i}\n" + "row of data\n" * 300, tool_call_id=f"c{i}", name="search"),
            Message.assistant(f"Answer {i}: " + "an explanation. " * 30),
        ]
    return messages + [Message.user("And the last question?")]


def bench_compaction() -> None:
    print("\n== compaction of a 50-turn history (201 messages) ==")
    messages = history(50)
    size = tokens.estimate_tokens(messages)

    async def instant(text: str) -> str:
        return "Summary of the earlier turns."

    baseline = timed(lambda: tokens.estimate_tokens(list(messages)), repeat=20)
    for label, summarize in (("summarise", instant), ("drop only", None)):
        for budget in (8000, 2000):
            result = None

            def run() -> None:
                nonlocal result
                result = asyncio.run(compact(messages, budget_tokens=budget, summarize=summarize))

            cost = timed(run)
            steps = ", ".join(s.kind for s in result.steps)
            print(f"{label:9s} {size} -> {result.tokens_after:5d} tokens (budget {budget:5d}): {cost * 1000:7.2f} ms "
                  f"({cost / baseline:5.0f}x one cached estimate)  [{steps}]")


def bench_skip_decision() -> None:
    print("\n== router skip decision per candidate (cached 20-message history) ==")
    messages = [Message.system("Be brief.")] + [
        Message.user(f"question {i} " * 30) if i % 2 else Message.assistant(f"answer {i} " * 40) for i in range(20)
    ]
    windows = [512, 4096, 8192, 32768, 131072] * 20
    tokens.estimate_tokens(messages, model_id="llama/smollm2")

    def decide() -> None:
        for window in windows:
            tokens.estimate_tokens(messages, model_id="llama/smollm2") + 512 > window  # noqa: B015

    def bare() -> None:
        for _ in windows:
            sum(len(m.content) for m in messages)

    per = timed(decide, repeat=20) / len(windows)
    base = timed(bare, repeat=20) / len(windows)
    verdict = "OK" if per < 0.2e-3 else "OVER TARGET"
    print(f"skip decision {per * 1e6:7.2f} us per candidate (target < 200 us: {verdict}); "
          f"bare loop over the messages {base * 1e6:6.2f} us ({per / base:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-url", help="a running llama.cpp server for exact counts")
    parser.add_argument("--local", action="store_true", help="start the embedded llama.cpp server (assistant.local)")
    args = parser.parse_args()
    texts = corpus()
    url, state = args.llama_url, None
    if args.local and not url:
        from assistant import local

        state = Path(tempfile.mkdtemp(prefix="bench-context-"))
        url = local.start(state_dir=state, ctx_size=8192).url
    try:
        bench_counting(texts, url)
        if url:
            bench_accuracy(texts, url)
        bench_compaction()
        bench_skip_decision()
    finally:
        if state is not None:
            from assistant import local

            local.stop(state_dir=state)


if __name__ == "__main__":
    main()
