"""Images and PDF documents in a turn: :class:`Attachment`, and what a plugin accepts.

An attachment is read once, when it is made: its type comes from its bytes (magic numbers,
never the file name), and its base64 form is made once, on first use, and shared by every
attempt of the calls it goes in. A URL goes to the provider as a URL: the core never
fetches one. Nothing of an attachment's content appears in its ``repr``, an error message,
a log record or an observer event; :meth:`Attachment.describe` says what it is (type,
size, a short digest).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from metasync_llm.errors import ConfigurationError

__all__ = ["IMAGE_TYPES", "TYPES", "Attachment", "AttachmentRules"]

#: The types an attachment may have, by their magic numbers.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
TYPES = IMAGE_TYPES | {"application/pdf"}
_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}


def sniff(data: bytes) -> str | None:
    """The type of ``data`` by its first bytes, or ``None`` for anything but the five."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


@dataclass(frozen=True, slots=True, eq=False)
class Attachment:
    """An image (PNG, JPEG, GIF, WebP) or a PDF document, as bytes or as a URL.

    Make one with :meth:`from_path`, :meth:`from_bytes` or :meth:`from_url`, and put it in
    a turn's content (``{"role": "user", "content": ["Describe this.", attachment]}``) or
    pass it as ``attachments=[...]``.
    """

    mime_type: str
    data: bytes | None = field(default=None, repr=False)
    url: str | None = None
    #: The file name, for providers that show one to the model (PDFs).
    name: str | None = None
    #: The encoded forms made so far (``"base64"``, ``"url"``): each once per attachment.
    _encoded: dict[str, str] = field(default_factory=dict, repr=False, init=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Attachment:
        """The file at ``path``, read now; its type from its bytes."""
        shown = os.fspath(path)
        try:
            with open(shown, "rb") as file:
                data = file.read()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigurationError(
                f"attachment {shown!r} cannot be read: {reason}", fields=("attachments",)
            ) from None
        return cls._of(data, None, os.path.basename(shown), f"file {shown!r}")

    @classmethod
    def from_bytes(
        cls, data: bytes, mime_type: str | None = None, *, name: str | None = None
    ) -> Attachment:
        """``data`` as an attachment; ``mime_type``, if given, must be what the bytes are."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ConfigurationError(
                f"Attachment.from_bytes takes bytes, got {type(data).__name__}",
                fields=("attachments",),
            )
        return cls._of(bytes(data), mime_type, name, "the bytes")

    @classmethod
    def from_url(cls, url: str, mime_type: str | None = None) -> Attachment:
        """A URL the provider fetches itself (never the core); its type is ``mime_type``, or
        what the URL's path ends with (``.png``, ``.pdf``, ...)."""
        from urllib.parse import urlsplit  # noqa: PLC0415 - URL attachments only

        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("https", "http", "gs") or not parts.netloc:
            raise ConfigurationError(
                f"attachment URL {url!r} must be an absolute https:// (or gs://) URL",
                fields=("attachments",),
            )
        guessed = _EXTENSIONS.get(os.path.splitext(parts.path)[1].lower())
        kind = mime_type or guessed
        if kind not in TYPES:
            raise ConfigurationError(
                f"attachment URL {url!r}: give mime_type= (one of {', '.join(sorted(TYPES))});"
                " the type cannot be read from the URL and the core does not fetch it",
                fields=("attachments",),
            )
        assert kind is not None
        return cls(kind, None, url, os.path.basename(parts.path) or None)

    @classmethod
    def _of(cls, data: bytes, given: str | None, name: str | None, what: str) -> Attachment:
        found = sniff(data)
        if found is None:
            head = data[:8].hex(" ") if data else "nothing"
            raise ConfigurationError(
                f"attachment {what} is not a PNG, JPEG, GIF or WebP image or a PDF document"
                f" (it begins with {head})",
                fields=("attachments",),
            )
        if given is not None and given != found:
            raise ConfigurationError(
                f"attachment {what} is {found} by its bytes, not {given}",
                fields=("attachments",),
            )
        return cls(found, data, None, name)

    @property
    def kind(self) -> str:
        """``"image"`` or ``"document"``."""
        return "image" if self.mime_type in IMAGE_TYPES else "document"

    @property
    def size(self) -> int | None:
        """Bytes of data; ``None`` for a URL."""
        return None if self.data is None else len(self.data)

    def base64(self) -> str:
        """The data in base64, made once and kept: retries and re-asks reuse it."""
        return self._encode("base64", "")

    def data_url(self) -> str:
        """``data:<type>;base64,...`` (the URL for a URL attachment), made once and kept.

        Made apart from :meth:`base64` (not from it): a plugin uses one of the two, and
        keeping both would hold two encoded copies of a large file."""
        if self.url is not None:
            return self.url
        return self._encode("url", f"data:{self.mime_type};base64,")

    def _encode(self, form: str, prefix: str) -> str:
        if self.data is None:
            raise ValueError("a URL attachment has no data")
        found = self._encoded.get(form)
        if found is None:
            import base64  # noqa: PLC0415 - with the first attachment sent

            found = self._encoded[form] = prefix + base64.b64encode(self.data).decode("ascii")
        return found

    def describe(self) -> str:
        """What it is, with none of its content: ``image/png, 68 bytes, sha256 1a2b3c4d``."""
        if self.data is None:
            return f"{self.mime_type} at a URL"
        import hashlib  # noqa: PLC0415 - loads OpenSSL (~2.5 ms): only when described

        digest = hashlib.sha256(self.data).hexdigest()[:12]
        return f"{self.mime_type}, {len(self.data)} bytes, sha256 {digest}"

    def __repr__(self) -> str:
        return f"<Attachment {self.describe()}>"


@dataclass(frozen=True, slots=True)
class AttachmentRules:
    """What a plugin (for one document) takes: the types, those that may go as a URL, and
    the provider's documented limits in bytes of data (``None``: no stated limit)."""

    types: frozenset[str] = TYPES
    url_types: frozenset[str] = TYPES
    max_bytes: int | None = None
    max_request_bytes: int | None = None
    #: A lower limit for images, where the provider has one (Anthropic: 5 MB an image).
    max_image_bytes: int | None = None

    def problem(self, attachment: Attachment) -> str | None:
        """Why ``attachment`` cannot go, or ``None``."""
        if attachment.mime_type not in self.types:
            return f"{attachment.mime_type} is not accepted (it takes {_listed(self.types)})"
        if attachment.url is not None and attachment.mime_type not in self.url_types:
            takes = _listed(self.url_types) if self.url_types else "none"
            return f"a {attachment.mime_type} URL is not accepted (URLs: {takes}; send the bytes)"
        size = attachment.size
        limit = self.max_bytes
        if attachment.kind == "image" and self.max_image_bytes is not None:
            limit = self.max_image_bytes
        if size is not None and limit is not None and size > limit:
            return f"{attachment.describe()} is over the limit of {limit} bytes a file"
        return None


def _listed(types: Any) -> str:
    return ", ".join(sorted(types)) or "none"
