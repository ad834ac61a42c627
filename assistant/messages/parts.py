"""What a message carries besides its text: images (a URL, or base64 data with a media type) and
documents (PDF). Each wire maps them natively; a model that cannot read one gets a text stand-in
instead (the router's vision step).

    Message.user(["What is in this picture?", ImagePart.from_file("cat.png")])
    Message.user("Summarise it.", attachments=[DocumentPart.from_file("report.pdf")])
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ImagePart", "DocumentPart", "Attachment", "IMAGE_TYPES"]

# What Anthropic, OpenAI and Gemini all accept.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class _Part(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    url: str | None = None
    data: str | None = None  # base64, without a data: prefix
    media_type: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _Part:
        if bool(self.url) == bool(self.data):
            raise ValueError("give exactly one of url or data (base64)")
        if self.data and not self.media_type:
            raise ValueError("base64 data needs its media_type, e.g. 'image/png' or 'application/pdf'")
        return self

    def key(self) -> str:
        """A short id of the content (for caching what was derived from it)."""
        return hashlib.sha256((self.url or self.data or "").encode()).hexdigest()[:24]

    def data_url(self) -> str:
        """``data:<type>;base64,...`` for data, the URL as given otherwise."""
        return self.url or f"data:{self.media_type};base64,{self.data}"

    def raw(self) -> bytes | None:
        return base64.b64decode(self.data) if self.data else None


class ImagePart(_Part):
    type: Literal["image"] = "image"

    @classmethod
    def from_file(cls, path: str | Path) -> ImagePart:
        """An image read from disk; the media type comes from the file name."""
        media = mimetypes.guess_type(str(path))[0] or "image/png"
        return cls(data=base64.b64encode(Path(path).read_bytes()).decode(), media_type=media)

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str) -> ImagePart:
        return cls(data=base64.b64encode(raw).decode(), media_type=media_type)


class DocumentPart(_Part):
    type: Literal["document"] = "document"
    media_type: str | None = "application/pdf"
    name: str | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> DocumentPart:
        """A PDF read from disk."""
        return cls(data=base64.b64encode(Path(path).read_bytes()).decode(), media_type="application/pdf",
                   name=Path(path).name)

    @classmethod
    def from_bytes(cls, raw: bytes, name: str | None = None) -> DocumentPart:
        return cls(data=base64.b64encode(raw).decode(), media_type="application/pdf", name=name)


Attachment = Annotated[ImagePart | DocumentPart, Field(discriminator="type")]
