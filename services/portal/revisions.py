"""What changed between two versions of a recommendation, word by word (difflib, the standard
library's sequence matcher: no dependency, stable output). Pure functions."""

from __future__ import annotations

import difflib
import re
from typing import Any

COMPARED = ("title", "text", "dimension", "due_date")


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """[(op, words)] with op "same", "removed" or "added", whitespace kept with its word."""
    old, new = re.findall(r"\S+\s*", before or ""), re.findall(r"\S+\s*", after or "")
    parts: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", "".join(old[i1:i2])))
        if j2 > j1:
            parts.append(("added", "".join(new[j1:j2])))
    return parts


def versions(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history, newest first, each entry with what it changed against the version before it:
    {field: [(op, words)]} for the compared fields that differ."""
    ordered = sorted(history, key=lambda h: (h["at"], h["version"]))
    result = []
    previous: dict[str, Any] | None = None
    for entry in ordered:
        snapshot = entry.get("snapshot") or {}
        changes = {}
        if previous is not None:
            for name in COMPARED:
                before, after = str(previous.get(name) or ""), str(snapshot.get(name) or "")
                if before != after:
                    changes[name] = word_diff(before, after)
        result.append({**entry, "changes": changes})
        previous = snapshot or previous
    return list(reversed(result))
