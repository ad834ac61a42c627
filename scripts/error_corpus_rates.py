"""How well ``classify_error`` does on the recorded error corpus, per split.

    .venv/bin/python scripts/error_corpus_rates.py                 # tests/fixtures/errors
    .venv/bin/python scripts/error_corpus_rates.py --misses DIR    # also list what each miss became

Splits: ``train`` and ``heldout`` are the ``split`` field of a fixture; files without one are ``original``
(the first 125 bodies). Held-out bodies were set aside before the rules were written: this script prints
only file names, kinds and numbers, never a body, so running it does not leak their wording.

Rates: overflow recall (overflows called overflow), false overflows (non-overflows called overflow), and
all-kinds accuracy (kind right; for overflows the stated prompt/window numbers right too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.errors import classify_error  # noqa: E402

NOW = 1754667600.0
_NUMBERS = ("prompt_tokens", "context_window")


def evaluate(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    expected = data["expected"]
    err = classify_error(data["provider"], data["status"], data["body"], data["headers"], now=NOW)
    numbers_ok = all(getattr(err, f, None) == expected[f] for f in _NUMBERS if f in expected)
    return {
        "name": path.stem,
        "split": data.get("split", "original"),
        "expected": expected["kind"],
        "got": err.kind,
        "kind_ok": err.kind == expected["kind"],
        "numbers_ok": numbers_ok,
        "numbers": {f: (expected[f], getattr(err, f, None)) for f in _NUMBERS if f in expected},
    }


def rates(results: list[dict[str, object]]) -> dict[str, float | int]:
    overflows = [r for r in results if r["expected"] == "context_overflow"]
    others = [r for r in results if r["expected"] != "context_overflow"]
    return {
        "files": len(results),
        "overflows": len(overflows),
        "overflow_recall": sum(r["got"] == "context_overflow" for r in overflows) / len(overflows) if overflows else 1.0,
        "false_overflows": sum(r["got"] == "context_overflow" for r in others),
        "kind_accuracy": sum(bool(r["kind_ok"]) for r in results) / len(results) if results else 1.0,
        "exact_accuracy": sum(bool(r["kind_ok"] and r["numbers_ok"]) for r in results) / len(results) if results else 1.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", nargs="?", default=str(ROOT / "tests" / "fixtures" / "errors"))
    parser.add_argument("--misses", action="store_true", help="list each miss: file, expected kind, classified kind")
    args = parser.parse_args()
    by_split: dict[str, list[dict[str, object]]] = defaultdict(list)
    for path in sorted(Path(args.directory).glob("*.json")):
        result = evaluate(path)
        by_split[str(result["split"])].append(result)
    everything = [r for results in by_split.values() for r in results]
    print(f"{'split':<10}{'files':>6}{'overflows':>10}{'recall':>9}{'false ovf':>10}{'kinds':>8}{'exact':>8}")
    for split, results in sorted(by_split.items()) + [("all", everything)]:
        r = rates(results)
        print(f"{split:<10}{r['files']:>6}{r['overflows']:>10}{r['overflow_recall']:>9.1%}{r['false_overflows']:>10}"
              f"{r['kind_accuracy']:>8.1%}{r['exact_accuracy']:>8.1%}")
    if args.misses:
        for result in everything:
            if not (result["kind_ok"] and result["numbers_ok"]):
                detail = "" if result["kind_ok"] else f" -> {result['got']}"
                # Held-out numbers stay unprinted: they would hint at the wording the rules must not see.
                shown = "wrong" if result["split"] == "heldout" else result["numbers"]
                numbers = "" if result["numbers_ok"] else f" numbers(expected, got)={shown}"
                print(f"  [{result['split']}] {result['name']}: {result['expected']}{detail}{numbers}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
