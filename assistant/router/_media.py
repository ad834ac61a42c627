"""Images and documents for models that cannot read them: the router never sends one to such a model.

A candidate gets an attachment natively only when the catalog says it reads that kind
(``supports_vision`` for images, ``supports_pdf`` for PDFs). Otherwise, before the call:

- each image is described by a vision-capable model (the chain ``ASSISTANT_MODEL_VISION``, comma
  separated, else the catalog's vision models of configured providers, free ones first) and the main
  model gets ``[VISION_ANALYSIS ...]`` text in its place;
- each PDF is replaced by its text, extracted with ``pypdf`` (the optional extra ``media``).

Descriptions and extracted text are kept per content, so an agent loop that re-sends its history
pays for each image once.
"""

from __future__ import annotations

import base64
import contextvars
import io
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..errors import UsageError
from ..messages import DocumentPart, ImagePart, Message, ModelInfo

__all__ = ["MediaHelper", "VISION_ENV", "PDF_HINT"]

VISION_ENV = "ASSISTANT_MODEL_VISION"
PDF_HINT = "pip install 'assistant[media]' (pypdf extracts the PDF's text)"
_MAX_VISION_MODELS = 6
_MAX_PDF_CHARS = 200_000
_PROMPT = (
    "Describe this image for someone who cannot see it. Copy every piece of text in it exactly; give "
    "numbers, labels, objects, people, colours and layout. Be complete and factual; do not guess."
)
# Set while a vision model describes an image, so that call sends the image as it is.
_describing: contextvars.ContextVar[bool] = contextvars.ContextVar("assistant_describing", default=False)

Describe = Callable[[list[str], list[Message]], Awaitable[Any]]


class MediaHelper:
    """Per router: what each candidate can read, and the cached text stand-ins for what it cannot."""

    def __init__(self, facts: Callable[[], Any], registry: Any) -> None:
        self._facts = facts
        self._registry = registry
        self._texts: dict[str, str] = {}
        self.vision_models: list[str] | None = None  # set to override the chain

    def unreadable(self, model_id: str, messages: Sequence[Message]) -> set[str]:
        """The attachment kinds in ``messages`` that ``model_id`` cannot take natively."""
        if _describing.get():
            return set()
        kinds = {a.type for m in messages for a in m.attachments}
        if not kinds:
            return set()
        info: ModelInfo | None = self._facts().get(model_id)
        readable = set()
        if info is not None and info.supports_vision:
            readable.add("image")
        if info is not None and getattr(info, "supports_pdf", None):
            readable.add("document")
        return kinds - readable

    async def replace(self, messages: Sequence[Message], kinds: set[str], describe: Describe) -> list[Message]:
        """``messages`` with every attachment of ``kinds`` turned into text. Raises ``LLMError`` when
        no vision model can describe an image, ``UsageError`` when a PDF's text cannot be read."""
        out = []
        for message in messages:
            keep = [a for a in message.attachments if a.type not in kinds]
            if len(keep) == len(message.attachments):
                out.append(message)
                continue
            notes = []
            for index, item in enumerate(message.attachments, 1):
                if item.type not in kinds:
                    continue
                if isinstance(item, ImagePart):
                    notes.append(await self._image_text(item, index, message.content, describe))
                else:
                    notes.append(self._pdf_text(item, index))
            content = "\n\n".join([*notes, message.content] if message.content else notes)
            out.append(message.model_copy(update={"content": content, "attachments": keep}))
        return out

    def chain(self) -> list[str]:
        if self.vision_models is not None:
            return list(self.vision_models)
        configured = os.environ.get(VISION_ENV, "").strip()
        if configured:
            return [m.strip() for m in configured.split(",") if m.strip()]
        usable = [m for m in self._facts().models() if m.supports_vision and self._registry.configured(m.provider)]

        def price(info: ModelInfo) -> float:
            pricing = info.pricing or {}
            return float(pricing.get("prompt", 1.0)) + float(pricing.get("completion", 1.0))

        usable.sort(key=lambda m: (not m.free, price(m), m.model_id))
        return [m.model_id for m in usable[:_MAX_VISION_MODELS]]

    async def _image_text(self, image: ImagePart, index: int, question: str, describe: Describe) -> str:
        key = "image:" + image.key()
        found = self._texts.get(key)
        if found is None:
            chain = self.chain()
            if not chain:
                raise UsageError(
                    "the message has an image and no configured model reads images: set a key for a vision "
                    f"model (e.g. OPENROUTER_API_KEY) or name one in {VISION_ENV}"
                )
            prompt = _PROMPT + (f"\nThe user's message with it: {question[:2000]}" if question else "")
            token = _describing.set(True)
            try:
                response = await describe(chain, [Message.user(prompt, attachments=[image])])
            finally:
                _describing.reset(token)
            found = f"by {response.provider}/{response.model}]\n{response.text.strip()}"
            self._texts[key] = found
        return f"[VISION_ANALYSIS image {index} {found}\n[/VISION_ANALYSIS]"

    def _pdf_text(self, document: DocumentPart, index: int) -> str:
        key = "pdf:" + document.key()
        found = self._texts.get(key)
        if found is None:
            found = self._texts[key] = _extract_pdf(document)
        name = document.name or f"document {index}"
        return f"[DOCUMENT {name} (its text; the model cannot read the PDF itself)]\n{found}\n[/DOCUMENT]"


def _extract_pdf(document: DocumentPart) -> str:
    if document.data is None:
        raise UsageError(f"the PDF at {document.url} must be sent as data for a model that cannot read PDFs; "
                         "use DocumentPart.from_file or DocumentPart.from_bytes")
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise UsageError(f"this model cannot read PDFs and extracting their text needs {PDF_HINT}") from None
    try:
        reader = PdfReader(io.BytesIO(base64.b64decode(document.data)))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, OSError) as exc:
        raise UsageError(f"the PDF {document.name or ''} cannot be read: {exc}") from None
    text = "\n\n".join(f"[page {i}]\n{t.strip()}" for i, t in enumerate(pages, 1) if t.strip())
    if not text:
        text = "(the PDF has no extractable text: it may be scanned images)"
    return text if len(text) <= _MAX_PDF_CHARS else text[:_MAX_PDF_CHARS] + "\n[... text cut ...]"
