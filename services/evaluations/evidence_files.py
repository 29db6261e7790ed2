"""What an uploaded evidence file may be: pure rules, no framework.

The type is read from the file's first bytes (the `filetype` library's magic-number matchers:
small, pure Python, no libmagic to install), never from its name or the client's Content-Type,
and only documents and images a city would show as evidence are accepted.
"""

from __future__ import annotations

import re
import unicodedata

import filetype

from shared.platform.errors import Invalid, PayloadTooLarge, UnsupportedMediaType

ACCEPTED = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint",
    "application/msword": "Word 97-2003",
    "application/vnd.ms-excel": "Excel 97-2003",
    "application/vnd.ms-powerpoint": "PowerPoint 97-2003",
    "application/vnd.oasis.opendocument.text": "OpenDocument text",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument spreadsheet",
    "application/vnd.oasis.opendocument.presentation": "OpenDocument presentation",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WebP",
}


def sniff(content: bytes, max_bytes: int) -> str:
    """The media type of an acceptable file, from its content; refuses anything else."""
    if not content:
        raise Invalid("the file is empty")
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"the file has {len(content)} bytes; evidence files are limited to {max_bytes} bytes")
    kind = filetype.guess(content)
    if kind is None or kind.mime not in ACCEPTED:
        found = kind.mime if kind else "unknown"
        accepted = ", ".join(sorted(set(ACCEPTED.values())))
        raise UnsupportedMediaType(f"the file's content is not an accepted type (found: {found}; accepted: {accepted})")
    return str(kind.mime)


def safe_file_name(name: str | None, media_type: str) -> str:
    """A file name safe in a Content-Disposition header and on any disk: no path, no control
    characters, ASCII only, at most 150 characters, with an extension."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" ._")[:150]
    if not base:
        base = "evidence"
    if "." not in base:
        guessed = filetype.get_type(mime=media_type)
        base += f".{guessed.extension}" if guessed else ""
    return base
