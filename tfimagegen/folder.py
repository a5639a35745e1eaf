"""The folder data source: ``--data DIR``, your own pictures as a model sees them.

Images directly in ``DIR`` are unlabelled; one level of class subfolders
gives labels from the sorted subfolder names, as
``keras.utils.image_dataset_from_directory`` does (files deeper down belong to
their top-level class; files beside the class folders are skipped, counted).

Each file is decoded on its own, never the whole folder at once, and made into
what the models expect, avoiding what users of that Keras function and of
image-folder loaders commonly hit:

* transparency (RGBA, LA, palette transparency) is composited on **white**,
  not dropped to black;
* the EXIF orientation is applied, so a phone photo stands the right way up;
* an embedded ICC profile is converted to sRGB; palette, 16-bit, CMYK and
  1-bit images are converted by their meaning, not their raw values;
* an animated GIF gives its first frame;
* a non-square image is centre-cropped (``fit="crop"``) or padded with white
  (``fit="pad"``), then resized with antialiasing (Lanczos); images smaller
  than the size are upscaled, and counted;
* a folder whose every image is grey stays 1-channel unless ``channels=3``;
* unreadable, truncated and unsupported files (HEIC without a plugin, text
  files) are skipped and counted in one line; images above
  :data:`tfimagegen.images.MAX_PIXELS` are refused from their header;
* exact duplicates (same file bytes) always fall in one split;
* captions, for text-to-image, come from a ``metadata.jsonl`` in ``DIR``, one
  JSON object per line, ``{"file_name": "cats/tabby.png", "text": "a tabby
  cat"}`` (the convention of Hugging Face's image folders; ``file_name`` is
  relative to ``DIR``): :func:`load_captioned`.

The resized arrays are cached (:func:`tfimagegen.files.cache_folder`), keyed
by the folder's file names, sizes and modification times and by the
settings, so the next command does not decode the folder again. Splits are
70 / 10 / 20 % train / validation / test, seeded, per class.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tfimagegen.files import cache_folder, save_npz

__all__ = ["FITS", "CHANNELS", "DEFAULT_SIZE", "SPLITS", "METADATA", "scan", "read_image",
           "read_folder", "read_captions", "load", "load_captioned"]

FITS = ("crop", "pad")
CHANNELS = (1, 3)
DEFAULT_SIZE = 32
MIN_SIZE, MAX_SIZE = 8, 512
SPLITS = ("train", "validation", "test", "all")
SPLIT_SHARES = (0.7, 0.1, 0.2)  # train, validation, test, of each class's distinct images
SPLIT_SEED = 0
METADATA = "metadata.jsonl"  # captions beside the images: {"file_name": ..., "text": ...}


def _check(size: object, fit: object, channels: object) -> tuple[int, str, int | None]:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) \
            or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"--image-size must be an int in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
    if fit not in FITS:
        raise ValueError(f"--fit must be one of {', '.join(FITS)}, got {fit!r}")
    if channels is not None and channels not in CHANNELS:
        raise ValueError(f"--channels must be 1 or 3, got {channels!r}")
    return int(size), str(fit), channels


def scan(root: str | os.PathLike) -> tuple[list[Path], list[int] | None, tuple[str, ...], int]:
    """The files of a data folder, sorted, and their classes.

    Returns:
        ``(files, labels, class_names, set_aside)``: ``labels`` is ``None`` for
        a folder of images without class subfolders; ``set_aside`` counts the
        files beside class subfolders, which belong to no class.

    Raises:
        ValueError: a missing path, a file, a symlink loop, or no files at all.
    """
    root = Path(root)
    if not root.exists():
        raise ValueError(f"--data {root}: no such folder")
    if not root.is_dir():
        raise ValueError(f"--data {root} is a file; give a folder of images, a .npz file, or "
                         "a source name")
    top = sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.name != METADATA)
    folders = [p for p in top if p.is_dir()]
    loose = [p for p in top if p.is_file()]
    if not folders:
        if not loose:
            raise ValueError(f"--data {root} holds no files")
        return loose, None, (), 0
    files, labels, names = [], [], []
    for folder in folders:
        found = _walk(folder)
        if found:
            labels += [len(names)] * len(found)
            names.append(folder.name)
            files += found
    if not files:
        raise ValueError(f"--data {root} holds no files in its subfolders {folders[0].name}, ...")
    return files, labels, tuple(names), len(loose)


def _walk(folder: Path) -> list[Path]:
    """Every file below ``folder``, sorted, following links but refusing a loop."""
    found, seen = [], set()
    for here, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:
            raise ValueError(f"--data: the folder {here} links back to {real} (a symlink loop)")
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(here) / n for n in sorted(names) if not n.startswith(".")]
    return found


def _to_srgb(img):
    """An image with an embedded ICC profile, converted to sRGB (RGB or RGBA)."""
    from PIL import ImageCms

    profile = img.info.get("icc_profile")
    if not profile or img.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        mode = "RGBA" if img.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"),
                                         outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img  # a broken profile: keep the pixels as they are


def read_image(path: str | os.PathLike | BinaryIO, size: int = DEFAULT_SIZE, fit: str = "crop"
               ) -> tuple[np.ndarray, bool]:
    """One image file as uint8 ``(size, size, 3)`` RGB on white, and whether it was upscaled.

    ``path`` may also be an open binary file (e.g. ``io.BytesIO`` of bytes already read).

    Raises:
        ValueError: a file Pillow cannot read (or only partly), or one whose
            header says it holds more than ``images.MAX_PIXELS`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from tfimagegen.images import MAX_PIXELS

    size, fit, _ = _check(size, fit, None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ValueError(f"{path} is {img.width}x{img.height} pixels, above "
                                     f"{MAX_PIXELS:,}")
                img.seek(0)  # an animation's first frame
                img.load()
                img = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path}: {err}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as err:
        raise ValueError(f"{path} is not an image Pillow can read ({err})") from None
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey: scale, not clip
        wide = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.round(np.clip(wide, 0, 65535) / 257).astype(np.uint8))
    elif img.mode == "F":
        raise ValueError(f"{path} holds floating-point pixels (mode F)")
    if img.mode == "P":
        img = img.convert("RGBA")  # palette transparency becomes alpha
    img = _to_srgb(img)
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    img = img.convert("RGB")  # CMYK, L, 1, YCbCr, ... by their meaning
    width, height = img.size
    if fit == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    else:
        side = max(width, height)
        square = Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(img, ((side - width) // 2, (side - height) // 2))
        img = square
    upscaled = side < size
    return np.asarray(img.resize((size, size), Image.Resampling.LANCZOS)), upscaled


def _cache_key(root: Path, files: list[Path], size: int, fit: str) -> str:
    import PIL

    digest = hashlib.sha256(f"{root.resolve()};{size};{fit};pillow={PIL.__version__}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)};{stat.st_size};{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def read_folder(root: str | os.PathLike, size: int = DEFAULT_SIZE, fit: str = "crop") -> dict:
    """Every readable image of a data folder, decoded one at a time (or read from the cache).

    Returns:
        ``{"images": uint8 (N, size, size, 3), "labels": int32 (N,) or None,
        "class_names", "digests": (N,) file hashes, "files": (N,) paths relative
        to ``root`` (with ``/``), "skipped", "upscaled", "set_aside"}``.

    Raises:
        ValueError: as :func:`scan`, or no readable image left.
    """
    from tfimagegen.data import _announce

    root = Path(root)
    size, fit, _ = _check(size, fit, None)
    files, labels, names, set_aside = scan(root)
    path = cache_folder() / "folders" / f"{_cache_key(root, files, size, fit)}.npz"
    if path.is_file():
        with np.load(path) as cached:
            out = {k: cached[k] for k in cached.files}
    if path.is_file() and "files" in out:  # (caches written before "files" are drawn again)
        out["labels"] = out["labels"] if names else None
        out["class_names"] = tuple(str(n) for n in out["class_names"])
        out.update({k: int(out[k]) for k in ("skipped", "upscaled", "set_aside")})
        return out
    images = np.zeros((len(files), size, size, 3), np.uint8)
    keep, digests, skipped, upscaled = [], [], [], 0
    for i, file in enumerate(files):
        raw = file.read_bytes()  # read once: decoded, and hashed to find exact duplicates
        try:
            images[len(keep)], small = read_image(io.BytesIO(raw), size, fit)
        except ValueError:
            skipped.append(file)
            continue
        keep.append(i)
        upscaled += small
        digests.append(hashlib.sha1(raw).hexdigest())
    if not keep:
        raise ValueError(f"--data {root}: none of its {len(files)} files is an image Pillow can "
                         f"read (e.g. {files[0].name})")
    notes = []
    if skipped:
        notes.append(f"skipped {len(skipped)} of {len(files)} files that are not images Pillow "
                     f"can read (e.g. {skipped[0].name})")
    if upscaled:
        notes.append(f"upscaled {upscaled} images smaller than {size} px")
    if set_aside:
        notes.append(f"set aside {set_aside} files beside the class folders")
    if notes:
        _announce(f"tfimagegen: {root}: " + "; ".join(notes))
    out = {"images": images[:len(keep)],
           "labels": None if labels is None else np.asarray(labels, np.int32)[keep],
           "class_names": names, "digests": np.array(digests),
           "files": np.array([files[i].relative_to(root).as_posix() for i in keep]),
           "skipped": len(skipped),
           "upscaled": upscaled, "set_aside": set_aside}
    save_npz(path, **{**out, "labels": np.zeros(0, np.int32) if labels is None else out["labels"],
                      "class_names": np.array(names, dtype=str)})
    return out


def _split_of_each(labels: np.ndarray | None, digests: np.ndarray, names: tuple[str, ...],
                   root: Path) -> np.ndarray:
    """"train", "validation" or "test" for each image: per class, by distinct file."""
    classes = np.zeros(len(digests), np.int32) if labels is None else labels
    split = np.empty(len(digests), dtype=object)
    rng = np.random.default_rng(SPLIT_SEED)
    for label in np.unique(classes):
        members = np.flatnonzero(classes == label)
        groups = sorted(set(digests[members]))
        if len(groups) < 3:
            what = "the folder" if labels is None else f"class {names[label]!r}"
            raise ValueError(f"--data {root}: {what} has {len(groups)} distinct images; "
                             "a split needs at least 3, one each for train, validation and test")
        order = rng.permutation(len(groups))
        n_val = max(1, round(SPLIT_SHARES[1] * len(groups)))
        n_test = max(1, round(SPLIT_SHARES[2] * len(groups)))
        where = {}
        for rank, g in enumerate(order):
            where[groups[g]] = ("validation" if rank < n_val else
                                "test" if rank < n_val + n_test else "train")
        for i in members:
            split[i] = where[digests[i]]
    return split


def read_captions(root: str | os.PathLike, files) -> tuple[str, ...] | None:
    """The caption of each of ``files`` (paths relative to ``root``) from ``root/metadata.jsonl``;
    ``None`` if the folder has no such file.

    Raises:
        ValueError: a line that is not a JSON object with string ``file_name`` and
            ``text``, or an image with no caption (named, with the count).
    """
    path = Path(root) / METADATA
    if not path.is_file():
        return None
    import json

    text_of = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {number}: not JSON ({err.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("file_name"), str) \
                or not isinstance(record.get("text"), str):
            raise ValueError(f"{path}, line {number}: expected {{\"file_name\": ..., \"text\": "
                             f"...}} with two strings, got {line[:60]!r}")
        text_of[Path(record["file_name"]).as_posix()] = record["text"]
    missing = [str(f) for f in files if str(f) not in text_of]
    if missing:
        raise ValueError(f"{path} has no caption for {len(missing)} of {len(files)} images "
                         f"(e.g. {missing[0]}); give every image a line")
    return tuple(text_of[str(f)] for f in files)


def load(root: str | os.PathLike, split: str = "train", image_size: int = DEFAULT_SIZE,
         fit: str = "crop", channels: int | None = None
         ) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """One split of a data folder: :func:`load_captioned` without the captions."""
    return load_captioned(root, split, image_size, fit, channels)[:3]


def load_captioned(root: str | os.PathLike, split: str = "train",
                   image_size: int = DEFAULT_SIZE, fit: str = "crop", channels: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...],
                              tuple[str, ...] | None]:
    """One split of a data folder, and its captions if it has a ``metadata.jsonl``.

    Args:
        root: the folder.
        split: ``"train"``, ``"validation"``, ``"test"`` or ``"all"``.
        image_size: pixels per side (8 to 512).
        fit: ``"crop"`` (centre square) or ``"pad"`` (white borders).
        channels: 1 or 3; default 1 when every image of the folder is grey, else 3.

    Returns:
        ``(images, labels, class_names, captions)``: uint8 ``(N, S, S, C)``, int32
        ``(N,)`` (``None`` without class folders), the sorted class folder names,
        and one caption per image (:func:`read_captions`; ``None`` without
        ``metadata.jsonl``).

    Raises:
        ValueError: a bad argument or folder, as :func:`read_folder`, a class
            with fewer than 3 distinct images, or as :func:`read_captions`.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"--split for a folder must be one of {', '.join(SPLITS)}, got "
                         f"{split!r}")
    size, fit, channels = _check(image_size, fit, channels)
    found = read_folder(root, size, fit)
    images, labels = found["images"], found["labels"]
    captions = read_captions(root, found["files"])
    grey = bool(np.all(images[..., :1] == images[..., 1:]))
    if channels == 1 or (channels is None and grey):
        from PIL import Image

        images = images[..., :1] if grey else np.stack(
            [np.asarray(Image.fromarray(x).convert("L")) for x in images])[..., None]
    if split != "all":
        keep = _split_of_each(labels, found["digests"], found["class_names"], root) == split
        images, labels = images[keep], None if labels is None else labels[keep]
        captions = None if captions is None else tuple(np.array(captions, object)[keep])
    return images, labels, found["class_names"], captions
