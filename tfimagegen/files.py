"""Atomic file writes: a crash never leaves a half-written file behind.

Used by every module that writes results (images, run folders, histories).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, rename it to ``path``.

    The temporary name keeps ``path``'s suffix (``.keras``, ``.npz``, ``.png``
    writers look at it). If the block raises, the temporary file is removed and
    ``path`` is left as it was.

    Example:
        >>> with atomic_path("out/history.json") as tmp:
        ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
