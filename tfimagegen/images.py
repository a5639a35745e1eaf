"""Read, write and show images.

Taught in ``notebooks/01_noise_images.ipynb`` and used by every later lesson.

Images here are numpy arrays: ``(H, W)`` or ``(H, W, C)`` with C in {1, 3, 4},
``uint8`` in [0, 255] or float in [0, 1]. Batches for :func:`show_grid` add a
leading ``N`` axis.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.figure
import numpy as np
from PIL import Image, UnidentifiedImageError

from tfimagegen.files import atomic_path

__all__ = ["tile", "load_image", "save_image", "sample_image", "to_uint8", "show_grid",
           "GridFigure", "MAX_PIXELS"]

MAX_PIXELS = 50_000_000  # load_image refuses larger images (a 7,000 x 7,000 photo is 49M)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file.

    Args:
        path: a PNG, JPEG, or any format Pillow reads.

    Returns:
        uint8 array ``(H, W, 3)`` for colour images (alpha is dropped) or
        ``(H, W, 1)`` for greyscale ones (with or without alpha). 16-bit
        greyscale is scaled to 8 bits (``round(v / 257)``), not clipped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not an image, holds more than :data:`MAX_PIXELS`
            pixels (checked from its header, before decoding), or holds
            floating-point pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    try:
        with warnings.catch_warnings():  # the size is checked here, with a clear message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path} is too large ({err}); images above {MAX_PIXELS:,} pixels "
                         "are refused") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path} is not an image file Pillow can read ({err})") from err
    try:
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{path} is {width}x{height} pixels; images above "
                                 f"{MAX_PIXELS:,} pixels are refused")
            img.load()
            if img.mode == "F":
                raise ValueError(f"{path} holds floating-point pixels (mode F); save it as "
                                 "8- or 16-bit")
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey
                wide = np.asarray(img, dtype=np.float64)
                return np.round(np.clip(wide, 0, 65535) / 257).astype(np.uint8)[..., None]
            grey = img.mode in ("1", "L", "LA", "La")
            array = np.asarray(img.convert("L" if grey else "RGB"), dtype=np.uint8)
    except OSError as err:  # a truncated or damaged file fails while decoding
        raise ValueError(f"{path} is not an image file Pillow can read ({err})") from err
    return array[..., None] if grey else array


def to_uint8(image, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Convert float pixels in ``value_range`` to uint8 in [0, 255].

    uint8 input is returned unchanged (as numpy). Values outside the range are
    clipped; use ``value_range=(-1, 1)`` for ``tanh`` generator outputs.

    Args:
        image: array or tensor of any shape, uint8 or float.
        value_range: ``(low, high)`` of the float input.

    Returns:
        uint8 numpy array of the same shape.

    Raises:
        TypeError: a dtype that is neither uint8 nor floating point.
        ValueError: NaN or inf values, or ``low >= high``.
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind != "f":
        raise TypeError(f"image must be uint8 or floating point, got dtype {array.dtype}")
    low, high = value_range
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    if not np.isfinite(array).all():
        raise ValueError("image contains NaN or inf values")
    unit = (array.astype(np.float32) - low) / (high - low)
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def tile(images: np.ndarray, ncols: int) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` images as one picture, ``ncols`` to a row, black where a row
    runs short: uint8 ``(rows * H, ncols * W)`` for grey images, ``(..., C)`` otherwise."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or ncols < 1:
        raise ValueError(f"images must be uint8 (N, H, W, C) and ncols >= 1, got "
                         f"{images.dtype} {images.shape} and {ncols!r}")
    n, h, w, c = images.shape
    rows = -(-n // ncols)
    x = np.concatenate([images, np.zeros((rows * ncols - n, h, w, c), np.uint8)])
    grid = x.reshape(rows, ncols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, ncols * w, c)
    return grid[..., 0] if c == 1 else grid


def save_image(path: str | os.PathLike, image) -> Path:
    """Write an image atomically: to a temporary file first, then renamed.

    A crash never leaves a half-written file at ``path``.

    Args:
        path: destination; the format follows the suffix (``.png``, ``.jpg``, ...).
        image: ``(H, W)`` or ``(H, W, C)`` with C in {1, 3, 4}; uint8 in [0, 255]
            or float in [0, 1].

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a bad shape, float values outside [0, 1], or an unknown suffix.
        TypeError: a dtype that is neither uint8 nor floating point.
    """
    path = Path(path)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            f"image must be (H, W) or (H, W, C) with C in 1, 3, 4; got shape {np.shape(image)}"
        )
    if array.dtype.kind == "f" and array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(
            f"float image must lie in [0, 1], got [{array.min():.4g}, {array.max():.4g}]; "
            "use to_uint8(image, value_range=...) first"
        )
    pil = Image.fromarray(to_uint8(array))
    suffix = path.suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise ValueError(f"path must end in an image suffix such as .png or .jpg, got {path}")
    with atomic_path(path) as tmp:
        pil.save(tmp, format=fmt)
    return path


def sample_image() -> np.ndarray:
    """A real photo that ships with matplotlib (Grace Hopper), no download.

    Returns:
        uint8 array ``(600, 512, 3)`` (height, width, RGB).
    """
    import matplotlib.cbook

    return load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


class GridFigure(matplotlib.figure.Figure):
    """A matplotlib Figure that draws itself in Jupyter, with or without pyplot.

    A bare ``Figure`` shows as ``<Figure size ...>`` until pyplot's inline
    backend has registered its formatter; ``_repr_png_`` makes Jupyter (and
    any IPython front end) render it as a PNG in every case.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


TITLE_POINTS = 9  # font size of show_grid's titles
PAD_PIXELS = 6  # room constrained layout leaves around each image


def show_grid(images, titles: Sequence[str] | None = None, ncols: int | None = None,
              size: float = 2.0, row_titles: Sequence[str] | None = None,
              col_titles: Sequence[str] | None = None) -> GridFigure:
    """Show images side by side in a grid.

    Args:
        images: ``(N, H, W)`` / ``(N, H, W, C)`` array, or a sequence of
            ``(H, W)`` / ``(H, W, C)`` images of possibly different sizes;
            uint8 in [0, 255] or float in [0, 1]. Greyscale is drawn in grey.
        titles: one title per image, or ``None``.
        ncols: images per row; default ``min(N, 8)``.
        size: inches per image, grown where needed so that every image pixel
            gets at least one screen pixel (at ``rcParams["figure.dpi"]``):
            small images are never downsampled into aliased mush.
        row_titles: one label per row, written left of it, or ``None``.
        col_titles: one label per column, written above the first row, or ``None``.

    Returns:
        A :class:`GridFigure`, which Jupyter displays as a PNG (save it with
        ``fig.savefig``).

    Raises:
        ValueError: no images, a wrong number of titles, row or column titles,
            ``ncols < 1``, or floats outside [0, 1].
    """
    images = list(images)
    if not images:
        raise ValueError("images must contain at least one image, got none")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image: {len(images)} images, "
                         f"{len(titles)} titles")
    ncols = min(len(images), 8) if ncols is None else ncols
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1, got {ncols!r}")
    nrows = -(-len(images) // ncols)
    for name, labels, count in (("row_titles", row_titles, nrows),
                                ("col_titles", col_titles, ncols)):
        if labels is not None and len(labels) != count:
            raise ValueError(f"{name} must have one entry per {name[:3]}: {count} {name[:3]}s, "
                             f"got {len(labels)}")
    dpi = matplotlib.rcParams["figure.dpi"]
    height = max(np.shape(image)[0] for image in images) + 2 * PAD_PIXELS
    width = max(np.shape(image)[1] for image in images) + 2 * PAD_PIXELS
    if titles is not None:
        height += 2 * TITLE_POINTS * dpi / 72
    label_inches = 0.0
    if row_titles is not None:  # room for the longest label, about 0.6 em per character
        label_inches = 0.6 * TITLE_POINTS / 72 * max(len(label) for label in row_titles) + 0.1
    fig = GridFigure(figsize=(ncols * max(size, width / dpi) + label_inches,
                              nrows * max(size, height / dpi)
                              + (2 * TITLE_POINTS / 72 if col_titles is not None else 0)),
                     dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(images):
            continue
        image = np.asarray(images[i])
        if image.dtype.kind == "f" and (image.min() < 0 or image.max() > 1):
            raise ValueError(
                f"float images must lie in [0, 1]; image {i} spans "
                f"[{image.min():.4g}, {image.max():.4g}]; use to_uint8(image, value_range=...)"
            )
        image = to_uint8(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255,
                  interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=TITLE_POINTS)
        if col_titles is not None and i < ncols:
            ax.set_title(col_titles[i], fontsize=TITLE_POINTS)
        if row_titles is not None and i % ncols == 0:
            ax.set_ylabel(row_titles[i // ncols], fontsize=TITLE_POINTS, rotation=0,
                          ha="right", va="center")
            ax.set_axis_on()  # for the label; the frame and ticks stay hidden
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
    return fig
