"""What a run trains on: a data source loaded, checked against the models, and recorded.

``train --data`` takes a name of :data:`tfimagegen.data.DATA_SOURCES`, a
folder of images or an ``.npz`` file. :func:`load` reads it as a
:class:`RunData`: the images, labels and class names, and the record that
``run.json`` keeps under ``"dataset"`` (source, image shape, classes, image
count and a fingerprint of the arrays), which every later command reads back
instead of assuming a shape. Needs no TensorFlow, except to load the Keras
sources (``mnist``, ``fashion_mnist``, ``cifar10``), whose shapes and classes
the table knows (``Source.shape``, ``Source.class_names``), so :func:`describe`
needs no download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np

from tfimagegen import data
from tfimagegen.runfolder import RunError

__all__ = ["DIGIT_SOURCES", "SIDES", "QUICK_IMAGES", "RunData", "source_name",
           "is_npz", "check_shape", "fingerprint", "load", "unlabelled_folder", "record_of",
           "describe", "binary", "sized_options", "other_split", "recorded"]

DIGIT_SOURCES = ("mnist", "fashion_mnist")  # the Bernoulli VAE's sources (lesson 03's nats)
SIDES = tuple(range(16, 129, 4))  # square sides every model family takes: 16, 20, ..., 128
QUICK_IMAGES = 512  # --quick trains on this many images, for tests and smoke runs
OLD_RECORD = {"shape": [28, 28, 1], "num_classes": 10,  # runs made before the record existed
              "class_names": list(data.DIGIT_NAMES)}


@dataclasses.dataclass(frozen=True)
class RunData:
    """One split of a run's data: uint8 ``images`` ``(N, S, S, C)``, int32 ``labels``
    ``(N,)`` into ``class_names`` (or ``None``), ``record``, what ``run.json`` keeps, and
    one caption per image where the source has them (emoji; folders with a
    ``metadata.jsonl``)."""

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    record: dict
    captions: tuple[str, ...] | None = None


def source_name(source: str | os.PathLike) -> str:
    """How ``run.json`` names a source: a table name as it is, a file or folder by its
    absolute path (so a run resumed from another working directory finds the same data)."""
    source = os.fspath(source)
    if source in data.DATA_SOURCES:
        return source
    return str(Path(source).expanduser().resolve())


def is_npz(name: str) -> bool:
    """Whether ``--data`` names an ``.npz`` file (all training data: it has no splits)."""
    return name.endswith(".npz") and not Path(name).is_dir()


def shape_text(shape) -> str:
    """``(28, 28, 1)`` as ``"28x28x1"``, as the one-line errors write a shape."""
    return "x".join(map(str, shape))


def check_shape(shape: tuple[int, ...], source: str) -> None:
    """Raise :class:`RunError` unless every model family takes images of ``shape`` (H, W, C)."""
    h, w, c = shape
    if h != w or h not in SIDES or c not in (1, 3):
        raise RunError(f"--data {source}: the models take square images with sides "
                       f"{SIDES[0]} to {SIDES[-1]} divisible by 4 (e.g. 28, 32, 64) and 1 or 3 "
                       f"channels, got {h}x{w}x{c}")


def _npz(path: str, sized: dict) -> data.DataSplit:
    given = [f"--{k.replace('_', '-')}" for k, v in sized.items() if v is not None]
    if given:
        raise RunError(f"{', '.join(given)} applies to emoji and image folders; {path} holds "
                       "images of one size")
    try:
        return data.read_npz(path)
    except FileNotFoundError:
        raise RunError(f"--data {path}: no such file") from None
    except (ValueError, TypeError) as err:
        raise RunError(str(err)) from None


def fingerprint(images: np.ndarray, labels: np.ndarray | None) -> str:
    """16 hex digits of SHA-256 over the images (and labels): the same data, the same text."""
    digest = hashlib.sha256(np.ascontiguousarray(images).data)
    digest.update(str(images.shape).encode())
    if labels is not None:
        digest.update(np.ascontiguousarray(labels, np.int32).data)
    return digest.hexdigest()[:16]


def _quick(name: str, images: np.ndarray, labels: np.ndarray | None,
           captions: tuple[str, ...] | None):
    """The first :data:`QUICK_IMAGES` images; for a table source or a folder (stored in
    class order) a seeded draw of that many, so that every class is there."""
    if len(images) <= QUICK_IMAGES:
        return images, labels, captions
    if name in DIGIT_SOURCES or is_npz(name):
        keep = np.arange(QUICK_IMAGES)
    else:
        keep = np.sort(np.random.default_rng(0).choice(len(images), QUICK_IMAGES, replace=False))
    return (images[keep], None if labels is None else labels[keep],
            None if captions is None else tuple(captions[i] for i in keep))


def load(source: str | os.PathLike, split: str = "train", quick: bool = False, *,
         image_size: int | None = None, fit: str | None = None,
         channels: int | None = None) -> RunData:
    """One split of ``--data`` as a run sees it, checked against the models.

    Args:
        source: a name of :data:`tfimagegen.data.DATA_SOURCES`, a folder of
            images, or an ``.npz`` file (images under ``x`` or ``images``,
            labels under ``y`` or ``labels``, optional ``class_names``; it is
            all training data, whatever ``split``).
        split: ``"train"``, ``"validation"`` or ``"test"`` (the table's sources and
            folders).
        quick: only :data:`QUICK_IMAGES` images.
        image_size, fit, channels: as :func:`tfimagegen.data.load_source`.

    Raises:
        RunError: an unknown source, a bad setting, no images, a shape the
            models do not take (:func:`check_shape`), or data that cannot be
            had here; one line.
    """
    name = source_name(source)
    if image_size is not None and image_size not in SIDES:  # refused before drawing a thing
        raise RunError(f"--image-size must be a side the models take, {SIDES[0]} to "
                       f"{SIDES[-1]} divisible by 4 (e.g. 28, 32, 64), got {image_size}")
    if is_npz(name):
        found = _npz(name, {"image_size": image_size, "fit": fit, "channels": channels})
    else:
        try:
            found = data.load_source(name, split, image_size, fit, channels)
        except (ValueError, RuntimeError) as err:
            raise RunError(str(err)) from None
    images, labels, captions = found.images, found.labels, found.captions
    names = found.class_names if labels is not None else ()
    if not len(images):
        raise RunError(f"--data {name} holds no images")
    check_shape(images.shape[1:], name)
    if quick:
        images, labels, captions = _quick(name, images, labels, captions)
    return RunData(images, labels, tuple(names), record_of(name, images, labels, names),
                   None if captions is None else tuple(captions))


def record_of(name: str, images: np.ndarray, labels: np.ndarray | None,
              class_names: tuple[str, ...]) -> dict:
    """What ``run.json`` keeps of a run's training data under ``"dataset"``."""
    return {"source": name, "shape": list(images.shape[1:]),
            "num_classes": len(class_names) if labels is not None else 0,
            "class_names": list(class_names) if labels is not None else [],
            "count": int(len(images)), "fingerprint": fingerprint(images, labels)}


def describe(source: str | os.PathLike, quick: bool = False, *, image_size: int | None = None,
             fit: str | None = None, channels: int | None = None) -> tuple[dict, RunData | None]:
    """The training split's shape and classes, before TensorFlow loads.

    Returns:
        ``(record, loaded)``: for a source of one size (the Keras ones), its
        known shape and classes (no count or fingerprint) and ``None``; for
        any other source, the
        :class:`RunData` :func:`load` gives and its record.

    Raises:
        RunError: as :func:`load`.
    """
    name = source_name(source)
    entry = data.DATA_SOURCES.get(name)
    if entry is not None and entry.shape is not None:
        try:
            data.check_source(name, "train", image_size, fit, channels)
        except ValueError as err:
            raise RunError(str(err)) from None
        return {"source": name, "shape": list(entry.shape),
                "num_classes": len(entry.class_names),
                "class_names": list(entry.class_names)}, None
    loaded = load(name, "train", quick, image_size=image_size, fit=fit, channels=channels)
    return loaded.record, loaded


def unlabelled_folder(source: str) -> bool:
    """Whether ``source`` is a folder without class subfolders, told from its file list
    before any image is decoded (a folder that cannot be listed is left to :func:`load`)."""
    if source in data.DATA_SOURCES or is_npz(source) or not Path(source).is_dir():
        return False
    from tfimagegen import folder

    try:
        return folder.scan(source)[1] is None
    except ValueError:
        return False


def binary(record: dict) -> bool:
    """Whether a VAE models these images as binarised pixels (Bernoulli): the digit sources,
    and 28x28 grey ``.npz`` files (what lessons 02 and 03 write), as before colour existed."""
    name = record["source"]
    return name in DIGIT_SOURCES or (is_npz(name) and list(record["shape"]) == [28, 28, 1])


def sized_options(options: dict) -> dict:
    """The ``image_size``, ``fit`` and ``channels`` of a run's options (``None``: not given)."""
    return {k: options.get(k) for k in ("image_size", "fit", "channels")}


def other_split(run: dict, split: str, quick: bool = False) -> RunData | None:
    """Another split (``"validation"``, ``"test"``) of the source a run trained on, drawn
    with the run's settings; ``None`` for an ``.npz`` file, which has no splits."""
    source = recorded(run)["source"]
    if is_npz(source):
        return None
    return load(source, split, quick, **sized_options(run))


def recorded(run: dict) -> dict:
    """A run's data record; runs made before it existed trained on 28x28 digits."""
    return run.get("dataset") or {"source": run.get("data", "mnist"), **OLD_RECORD}
