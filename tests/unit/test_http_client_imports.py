"""httpcore asks which async library runs on every lock and connection it sets up, by importing
sniffio; without sniffio installed each ask was a failed import, which Python does not cache: a
search of sys.path, a quarter of every webhook's CPU (bench/README.md "Wave 7"). pyproject.toml
lists sniffio for that; this test fails if it goes missing again."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

from httpcore._synchronization import current_async_library


class RecordingFinder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        self.searched.append(fullname)  # and lets the real finders answer


async def test_asking_for_the_async_library_searches_for_no_module() -> None:
    current_async_library()  # a first ask may import what is installed, once
    finder = RecordingFinder()
    sys.meta_path.insert(0, finder)
    try:
        assert [current_async_library() for _ in range(3)] == ["asyncio"] * 3
    finally:
        sys.meta_path.remove(finder)
    assert finder.searched == []
