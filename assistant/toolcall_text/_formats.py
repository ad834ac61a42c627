"""Every shape models write tool calls in, found in one pass over a reply.

``find_calls(text, resolve)`` masks what only shows a call (reasoning, examples: ``_regions``), runs
the extractors in order and returns non-overlapping ``Found`` spans. Explicit markup (tags, special
tokens: ``_tokens``, ``_harmony``, ``_tags``) is found whatever tool it names, so it never reaches
the user; heuristic shapes (``_heuristic``: bare JSON, fences, ``name(...)``) count only when
``resolve`` knows the name, so prose that merely looks like a call is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._found import Found, Resolve
from ._harmony import harmony
from ._heuristic import heuristic_extractors
from ._regions import Regions, is_example_lead, lead_in, scan
from ._tags import STRONG_TAGS, TAG_EXTRACTORS
from ._tokens import TOKEN_EXTRACTORS

__all__ = ["Found", "Scan", "find_calls", "STRAY_MARKERS"]


@dataclass(slots=True)
class Scan:
    found: list[Found]
    regions: Regions


def find_calls(text: str, resolve: Resolve) -> Scan:
    """Every call span in ``text``, in text order, none overlapping (earlier extractors win)."""
    regions = scan(text)
    masked = regions.masked
    taken: list[Found] = []
    for extractor in (*TOKEN_EXTRACTORS, harmony, *TAG_EXTRACTORS, *heuristic_extractors(regions.fences)):
        for hit in extractor(masked, resolve):
            if regions.shown_only(hit.start):
                continue
            if hit.calls and is_example_lead(lead_in(masked, hit.start)):
                # Shown as an example ("for example: <tool_call>..."): left as it was written.
                regions.inert.append((hit.start, hit.end))
                continue
            if not any(hit.start < t.end and t.start < hit.end for t in taken):
                taken.append(hit)
    taken.sort(key=lambda f: f.start)
    return Scan(_absorb_fences(taken, regions, masked), regions)


def _absorb_fences(taken: list[Found], regions: Regions, text: str) -> list[Found]:
    """A carrier fence whose whole body is call markup goes with it (```xml around a <tool_call>)."""
    for fence in regions.fences:
        if not fence.carrier:
            continue
        inner = [f for f in taken if fence.body_start <= f.start < fence.end and f.end <= fence.end]
        if not inner:
            continue
        rest = text[fence.body_start : fence.body_end]
        for f in reversed(inner):
            rest = rest[: f.start - fence.body_start] + rest[f.end - fence.body_start :]
        if rest.strip():
            continue
        merged = Found(fence.start, fence.end, [c for f in inner for c in f.calls],
                       explicit=any(f.explicit for f in inner), truncated=any(f.truncated for f in inner),
                       others=[o for f in inner for o in f.others])
        taken = [f for f in taken if f not in inner] + [merged]
    return sorted(taken, key=lambda f: f.start)


STRAY_MARKERS = re.compile(
    r"<\|(?:python_tag|python_start|python_end|eom_id|eot_id|eom|eot|im_end|call|end|return|/tool_call|tool_call"
    r"|tool_calls_section_(?:begin|end)|START_RESPONSE|END_RESPONSE|END_ACTION|END_THINKING|action_end"
    r"|tool_call_end|tools_suffix)\|>"
    r"|<\|start\|>assistant"
    r"|</?(?:\w+:)?(?:" + "|".join(sorted(STRONG_TAGS, key=len, reverse=True)) + r")\s*>"
    r"|\[/?(?:TOOL_CALLS?|ARGS)\]"
    r"|<｜tool[▁_ ]calls?[▁_ ](?:begin|end)｜>|<｜tool[▁_ ]sep｜>"
    r"|</?[｜|]DSML[｜|]function_calls>"
    r"|<(?:start|end)_function_call>"
    # An orphan close of a reasoning block the client could not split off (Hermes 4, Qwen3).
    r"|</(?:think|thinking|seed:think)>|\[/THINK\]"
    r"|</answer>",
    re.IGNORECASE,
)
