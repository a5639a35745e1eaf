"""The default colour recipes on folders they were not tuned on (issue #20, "Defaults").

Run: ``.venv/bin/python benchmarks/unseen_colour.py [--budget SECONDS] [--seed S]
[--folders shapes photos] [--only latent gan pixel]`` (or ``make bench``).

Every colour recipe was tuned on emoji's validation split only. Issue #20 checks
``train vae`` then ``train diffusion --latent``, default recipes, on a colour
folder we do not have, against the colour targets of "Any picture, any size":
FD at most 8 times the floor, and the class read right at least 80 % as often
as on real test images. This writes two folders unlike emoji from data installed
here (under ``outputs/bench_unseen/``, one subfolder per class, 32-px PNG files)
and runs ``benchmarks/colour.py``'s arms on each, scored in a feature space
trained on that folder's training split:

* ``shapes``: 3,000 pictures drawn with Pillow, 600 per class (circle, square,
  triangle, cross, ring), each one shape in a random colour, size, place and
  turn on a background shaded between two random colours;
* ``photos``: non-overlapping 32×32 tiles of nine colour photos (scikit-image's
  ``astronaut``, ``chelsea``, ``coffee``, ``rocket``, ``hubble_deep_field``,
  ``immunohistochemistry``, ``retina``, ``stereo_motorcycle`` and matplotlib's
  ``grace_hopper``), each first resized to a 448-px short side; one class per
  photo. No pixel is in two tiles, so none is in two splits; the test split asks
  for new tiles of the same nine photos.

The budget (default 600 s per generator, the VAE's share counted in the latent
flow's) stops the VAE well before its default 110 epochs (12–14 here, one
run), so what this measures is what ten minutes of the defaults reach, not
the defaults run to their default epochs (the issue's own check). A
folder whose feature space reads its real test images no better than twice
chance is reported as not measured: its scores would say nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import colour  # noqa: E402  (benchmarks/colour.py, beside this file)
import numpy as np  # noqa: E402
import skimage.util  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from tfimagegen import images  # noqa: E402

OUT = Path("outputs/bench_unseen")
SIDE = 32
SHAPES = ("circle", "square", "triangle", "cross", "ring")
PER_SHAPE = 600
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
          "immunohistochemistry", "retina", "stereo_motorcycle", "grace_hopper")
SHORT_SIDE = 448  # each photo's short side before tiling: 14 tiles across
FD_TARGET, CLASS_TARGET = 8.0, 0.8  # "Any picture, any size"'s colour targets


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A ``size``-px square shaded linearly between two random colours, in a random direction."""
    a, b = rng.integers(0, 256, (2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    t = np.clip(xx * np.cos(angle) + yy * np.sin(angle) + 0.5, 0, 1)[..., None]
    return Image.fromarray(((1 - t) * a + t * b).astype(np.uint8))


def _outline(shape: str, centre: np.ndarray, radius: float, turn: float) -> list[tuple]:
    """The corners of a polygonal ``shape`` (square, triangle, cross), turned by ``turn``."""
    if shape == "square":
        corners = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
        scale = radius / np.sqrt(2)
    elif shape == "triangle":
        corners = [(np.cos(a), np.sin(a)) for a in np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
        scale = radius
    else:  # a plus sign, arms a third of its span wide
        w = 1 / 3
        corners = [(w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w), (-w, -1), (w, -1),
                   (w, -w), (1, -w), (1, w), (w, w)]
        scale = radius
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    return [tuple(centre + scale * rotation @ np.array(c)) for c in corners]


def draw_shape(shape: str, rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """One uint8 ``(side, side, 3)`` picture of ``shape``, drawn at 4× and shrunk (Lanczos)."""
    big = 4 * side
    picture = _background(rng, big)
    pen = ImageDraw.Draw(picture)
    radius = rng.uniform(0.2, 0.4) * big
    centre = rng.uniform(radius, big - radius, 2)
    fill = tuple(int(c) for c in rng.integers(0, 256, 3))
    box = [*(centre - radius), *(centre + radius)]
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "ring":
        pen.ellipse(box, outline=fill, width=int(radius * rng.uniform(0.25, 0.45)))
    else:
        pen.polygon(_outline(shape, centre, radius, rng.uniform(0, 2 * np.pi)), fill=fill)
    return np.asarray(picture.resize((side, side), Image.Resampling.LANCZOS))


def _photo(name: str) -> Image.Image:
    import skimage.data

    picture = images.sample_image() if name == "grace_hopper" else getattr(skimage.data, name)()
    picture = picture[0] if isinstance(picture, tuple) else picture  # a stereo pair's left
    return Image.fromarray(picture).convert("RGB")


def photo_tiles(name: str, side: int = SIDE) -> np.ndarray:
    """uint8 ``(n, side, side, 3)``: the non-overlapping tiles of photo ``name``, resized
    (Lanczos) so its short side is :data:`SHORT_SIDE`, row by row."""
    picture = _photo(name)
    scale = SHORT_SIDE / min(picture.size)
    width, height = (round(d * scale) for d in picture.size)
    array = np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS))
    rows, cols = height // side, width // side
    blocks = skimage.util.view_as_blocks(array[:rows * side, :cols * side], (side, side, 3))
    return blocks.reshape(-1, side, side, 3)


def write_folder(name: str, seed: int) -> Path:
    """``OUT/name/<class>/<index>.png`` for ``name`` "shapes" or "photos", written once
    (a ``.done`` file beside it marks it complete); the folder."""
    folder = OUT / name
    done = folder.with_name(folder.name + ".done")
    if done.is_file():
        return folder
    if name == "shapes":
        rng = np.random.default_rng(seed)
        classes = {shape: [draw_shape(shape, rng) for _ in range(PER_SHAPE)] for shape in SHAPES}
    else:
        classes = {photo: photo_tiles(photo) for photo in PHOTOS}
    for label, pictures in classes.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        for index, picture in enumerate(pictures):
            images.save_image(folder / label / f"{index:04d}.png", picture)
    done.write_text("")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds per generator, set-up included (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folders", nargs="+", choices=("shapes", "photos"),
                        default=["shapes", "photos"])
    parser.add_argument("--only", nargs="+", choices=("latent", "gan", "pixel"),
                        default=["latent"])
    args = parser.parse_args()
    verdicts = []
    for name in args.folders:
        folder = write_folder(name, args.seed)
        colour.use(str(folder), SIDE)
        rows = colour.measure(args.only, args.budget, args.seed)
        print(f"seed {args.seed}")
        colour.print_table(args.budget, rows)
        print()
        floor, share = rows["training images (floor)"], colour.real_share()
        chance = 1 / len(colour.TEST.class_names)
        if share < 2 * chance:  # a space that cannot tell the classes apart scores nothing
            verdicts.append(f"{name}: not measured; its feature space reads {share:.0%} of the "
                            f"real test images right (chance {chance:.0%})")
            continue
        for row, r in rows.items():
            if "seconds" in r and r["seconds"]:
                fd, read = r["fd"] / floor["fd_floor"], r["label_accuracy"] / share
                met = "met" if fd <= FD_TARGET and read >= CLASS_TARGET else "NOT met"
                verdicts.append(f"{name}, {row}: FD {fd:.1f}x the floor (target <= "
                                f"{FD_TARGET:.0f}), class read right {read:.0%} of real "
                                f"(target >= {CLASS_TARGET:.0%}): {met}")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
