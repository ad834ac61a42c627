"""Images and documents on each wire, mapped natively (only user turns carry them):

- OpenAI shape: ``image_url`` parts (a URL or a ``data:`` URL) and ``file`` parts with ``file_data``
  (https://platform.openai.com/docs/guides/pdf-files); OpenRouter takes the same for every model.
- Anthropic: ``image`` and ``document`` blocks with a ``base64`` or ``url`` source, placed before the
  text as its docs advise (https://docs.anthropic.com/en/docs/build-with-claude/vision).
- Gemini: ``inlineData`` (base64) and ``fileData`` (a URI) parts.
- Ollama: ``images``, base64 only; it reads no documents and no URLs.

A model that cannot read an attachment never gets it: the router swaps in a text stand-in first.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..messages import Message

__all__ = ["openai_content", "anthropic_blocks", "gemini_parts", "ollama_images"]


def openai_content(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for item in message.attachments:
        if item.type == "image":
            parts.append({"type": "image_url", "image_url": {"url": item.data_url()}})
        else:
            parts.append({"type": "file", "file": {"filename": item.name or "document.pdf", "file_data": item.data_url()}})
    return parts


def anthropic_blocks(message: Message) -> list[dict[str, Any]]:
    blocks = []
    for item in message.attachments:
        source = ({"type": "base64", "media_type": item.media_type, "data": item.data} if item.data
                  else {"type": "url", "url": item.url})
        blocks.append({"type": "image" if item.type == "image" else "document", "source": source})
    return blocks


def gemini_parts(message: Message) -> list[dict[str, Any]]:
    parts = []
    for item in message.attachments:
        if item.data:
            parts.append({"inlineData": {"mimeType": item.media_type, "data": item.data}})
        else:
            mime = item.media_type or ("application/pdf" if item.type == "document" else "image/jpeg")
            parts.append({"fileData": {"mimeType": mime, "fileUri": item.url}})
    return parts


def ollama_images(message: Message) -> list[str]:
    images = []
    for item in message.attachments:
        if item.type != "image":
            raise UsageError("Ollama reads no documents: send the PDF's text instead (the router does this for "
                             "models the catalog does not list as reading PDFs)")
        if not item.data:
            raise UsageError(f"Ollama takes images as base64 data, not URLs ({item.url}); "
                             "use ImagePart.from_file or ImagePart.from_bytes")
        images.append(item.data)
    return images
