"""Atomic file writes: a crash never leaves a half-written file behind.

Used by every module that writes results (images, run folders, histories).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "save_npz", "write_json", "cache_folder", "user_cache_folder",
           "CACHE_ENV"]

CACHE_ENV = "TFIMAGEGEN_CACHE"


def user_cache_folder() -> Path:
    """``tfimagegen`` in the user's cache folder: ``$XDG_CACHE_HOME``, default ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tfimagegen"


def cache_folder() -> Path:
    """Where data drawn or decoded once is kept: ``$TFIMAGEGEN_CACHE``, else
    :func:`user_cache_folder`; never the package's own folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return user_cache_folder()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, rename it to ``path``.

    The temporary name keeps ``path``'s suffixes (``.keras``, ``.npz``, ``.png``,
    ``.weights.h5``: writers look at them). If the block raises, the temporary file is removed and
    ``path`` is left as it was; an ``OSError`` (a read-only folder, a full disk)
    is raised again naming ``path`` itself, and a ``path`` that is a folder is
    refused up front.

    Example:
        >>> with atomic_path("out/history.json") as tmp:
        ...     tmp.write_text("{}")
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        try:
            yield tmp
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as err:  # a read-only folder, a full disk: name the file asked for
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err


def save_npz(path: str | os.PathLike, **arrays) -> Path:
    """``np.savez_compressed`` written atomically (temporary file, then rename)."""
    import numpy as np

    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


def write_json(path: str | os.PathLike, value: dict) -> None:
    """``value`` as indented JSON, written atomically."""
    import json

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1))
