"""gpt-oss harmony messages (https://cookbook.openai.com/articles/openai-harmony): a message with a
``to=functions.NAME`` recipient, in its channel or its role header, is a call; one with another
recipient (``to=python``, ``to=browser.search``) addresses a built-in, not a function. Messages without
a recipient are text: ``commentary`` preambles and the ``final`` answer (``analysis`` is reasoning and
was masked before this runs).

    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{..}<|call|>
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ._bodies import parse_args
from ._found import Found, Resolve, found

__all__ = ["harmony"]

_HEADER = re.compile(
    r"(?:<\|start\|>)?(?P<pre>[ \t]*(?:assistant)?[ \t]*(?:to=[\w.\-]+)?[ \t]*)"
    r"<\|channel\|>(?P<channel>\w+)(?P<post>[^<]*)(?:<\|constrain\|>[^<]*)?<\|message\|>"
)
_RECIPIENT = re.compile(r"to=([\w.\-]+)")
_BODY_END = re.compile(r"<\|call\|>|<\|end\|>|<\|return\|>|(?=<\|start\|>)|\Z")


def harmony(text: str, resolve: Resolve) -> Iterator[Found]:
    if "<|channel|>" not in text:
        return
    for m in _HEADER.finditer(text):
        recipient = _RECIPIENT.search(m.group("pre") + " " + m.group("post"))
        if recipient is None:
            yield Found(m.start(), m.end(), [])
            continue
        end = _BODY_END.search(text, m.end())
        assert end is not None
        body = text[m.end() : end.start()]
        target = recipient.group(1)
        if not target.startswith("functions."):
            yield Found(m.start(), end.end(), [], others=[target])
            continue
        name = target[len("functions.") :]
        yield found(m.start(), end.end(), lambda body=body, name=name: [(name, parse_args(body))])
