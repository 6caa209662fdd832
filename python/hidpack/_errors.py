"""Error classes of the pure-Python parts, declared once and built on the native hierarchy
(``hidpack.HidpackError`` > ``hidpack.FormatError``), so that ``except hidpack.HidpackError``
catches every damaged input, whether the Rust reader or a Python importer found the damage."""

from __future__ import annotations

from typing import Optional

from ._native import FormatError

__all__ = ["ImportFormatError", "MetadataError"]


class ImportFormatError(FormatError, ValueError):
    """A source file given to an importer (OWAMcap, DuckTrack JSONL, CSV) is damaged or does not
    follow its format.

    ``path``: the file (None for a stream without a name); ``line``: 1-based line of a line-based
    source (JSONL, CSV), else None; ``offset``: byte offset in the file where the damage was found
    (for a compressed source: in the compressed bytes; the message names it when there is no
    line), else None; ``reason``: what is wrong,
    without the location. Also a ``ValueError``, as importer errors were before.
    """

    def __init__(
        self,
        path: Optional[str],
        reason: str,
        *,
        line: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        where = path if path is not None else "<stream>"
        if line is not None:  # the line says where; .offset still has the byte offset
            where += " line %d" % line
        elif offset is not None:
            where += " at byte offset %d" % offset
        super().__init__("%s: %s" % (where, reason))
        self.path = path
        self.line = line
        self.offset = offset
        self.reason = reason


class MetadataError(FormatError):
    """A recording's header metadata is not a JSON object (the format requires one). The events
    are readable; only the metadata is not. ``path``: the recording; ``offset``: byte offset of
    the metadata text in the file; ``text``: its first 200 characters."""

    def __init__(self, path: str, reason: str, *, offset: Optional[int], text: str) -> None:
        super().__init__("%s: header metadata %s: %r" % (path, reason, text[:200]))
        self.path = path
        self.offset = offset
        self.reason = reason
        self.text = text[:200]
