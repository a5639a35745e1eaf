"""A game texture learnt from one photo: does it tile, and is it the photo's texture? (#20)

Run: ``.venv/bin/python benchmarks/texture.py [--photo gravel] [--steps N] [--width W]``
(or ``make bench``).

``tfimagegen.texture``'s flow trains on random crops of the left two-thirds
of one scikit-image photo (shrunk 2×), then draws textures larger than its
crops. Each is scored two ways:

* **tiling**: the seam ratio (lesson 05's measure on both axes: the step
  across the edges of a 2×2 tiling over the mean step inside; 1 is seamless),
  median over the samples;
* **likeness**: SWD (``tfimagegen.swd``) of crops of the samples against as
  many crops of the photo's held-out right third, beside the floor (crops of
  the training two-thirds against the same held-out crops) and lesson 05's
  tileable fractal noise (``noise.fractal``, five octaves) cropped the same
  way, with its mean and contrast matched to the photo's so that SWD compares
  patterns, not brightness.

Targets (issue #20): seam ratio ≤ 1.5; SWD ≤ 2× the floor and below the
fractal textures'.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfimagegen import data, noise, swd, texture  # noqa: E402


def crops_of(images: np.ndarray, size: int, per_image: int, seed: int) -> np.ndarray:
    """``per_image`` random crops of each of ``images`` ``(n, H, W, C)``."""
    return np.concatenate([texture.random_crops(x, size, per_image, seed + i)
                           for i, x in enumerate(images)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo", choices=texture.PHOTOS, default="gravel")
    parser.add_argument("--crop", type=int, default=32, help="training crop side (default 32)")
    parser.add_argument("--side", type=int, default=96, help="sample side (default 96)")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1500, help="optimiser steps of 64 crops")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    train, held_out = texture.split_photo(texture.load_photo(args.photo))
    crops = texture.random_crops(train, args.crop, 64 * 200, args.seed)
    model = texture.build_texture_flow(1, args.width, seed=args.seed)
    start = time.perf_counter()
    model.fit(data.as_dataset(crops, 64, seed=args.seed, scale="tanh", repeat=True),
              steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)  # tf.data shuffles
    seconds = time.perf_counter() - start
    z = tf.random.stateless_normal((args.samples, args.side, args.side, 1), seed=[args.seed, 1])
    start = time.perf_counter()
    drawn = (model.generate(z) + 1.0) / 2.0  # [0, 1]
    sample_s = time.perf_counter() - start

    per = 512 // args.samples
    reference = texture.random_crops(held_out, args.crop, per * args.samples, args.seed + 7)
    reference = reference.astype(np.float32) / 255.0
    floor = texture.random_crops(train, args.crop, len(reference), args.seed + 8) / 255.0
    fractal = np.stack([noise.fractal((args.side, args.side), octaves=5, seed=args.seed + i,
                                      tileable=True).numpy()[..., None]
                        for i in range(args.samples)])
    fractal = (fractal - fractal.mean()) / fractal.std() * reference.std() + reference.mean()
    sets = {"flow samples": crops_of(drawn, args.crop, per, args.seed + 9),
            "fractal noise (tileable)": crops_of(np.clip(fractal, 0, 1), args.crop, per,
                                                 args.seed + 9),
            "training crops (floor)": floor.astype(np.float32)}
    scores = swd.swd(reference, *sets.values(), seed=args.seed)
    seams = {"flow samples": [texture.seam_ratio(x[..., 0]) for x in drawn],
             "fractal noise (tileable)": [texture.seam_ratio(x[..., 0]) for x in fractal]}

    print(f"{args.photo} (shrunk 2x, {train.shape[1]}x{train.shape[0]} px to train on), "
          f"crops {args.crop} px, width {args.width}, {args.steps} steps of 64 in "
          f"{seconds:.0f} s; {args.samples} samples of {args.side} px in {sample_s:.1f} s; "
          f"SWD on {len(reference)} crops against the held-out third")
    floor_swd = scores[-1]["swd"]
    for name, score in zip(sets, scores, strict=True):
        seam = (f"seam ratio {statistics.median(seams[name]):.2f}" if name in seams else "")
        print(f"{name:26} SWD {score['swd']:7.1f} ({score['swd'] / floor_swd:4.1f}x the floor)"
              f"  {seam}")


if __name__ == "__main__":
    main()
