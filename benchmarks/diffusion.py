"""Diffusion quality per CPU-minute: flow matching in pixels and latents, against keras-io DDIM.

Run: ``.venv/bin/python benchmarks/diffusion.py [--budget SECONDS] [--vae-run DIR]
[--only latent pixel ddim gan]`` (or ``make bench``).

Five generators train on the same digits (the 3,000 embedded MNIST training
digits, so the run is offline and repeatable) and are scored the same way, on
1,000 samples with ``tfimagegen.metrics.evaluate``, next to the real-vs-real
floor: first against the 1,000 validation digits (what settings are chosen
by), then, once, against the 1,000 test digits (what the README reports).

* **flow, pixels**: ``diffusion.Recipe()``, the conditional U-Net, for ``--budget``
  seconds (default 600: ten CPU-minutes);
* **keras-io DDIM**: the recipe of keras.io/examples/generative/ddim, rebuilt
  here at 28×28 grey for the same budget: a U-Net of widths 32/64/96 with two
  residual blocks per level (batch norm without scale, swish), average-pool
  down, bilinear up, the noise variance as a 32-number sinusoidal embedding
  (frequencies 1 to 1,000) spread over the image, a cosine-angle schedule with
  signal rates 0.95 to 0.02, noise prediction with mean-absolute error, AdamW
  1e-3 with weight decay 1e-4, batch 64, EMA 0.999, pixels standardised by a
  ``Normalization`` layer, and 20 DDIM steps to sample. It is unconditional, as
  keras-io's is. Its EMA has no warm-up, so after a few thousand steps it still
  holds a share 0.999^steps of the random initial weights; a second row samples
  its raw network, to show what the network itself learned;
* **conditional GAN**: ``gan.Recipe()`` for the same budget, the reference;
* **flow, latents**: ``diffusion.Recipe().for_latents(VAE_RUN)`` on a finished
  VAE run (default lesson 03's ``notebooks/outputs/03_vae``; trained with the
  VAE recipe first if missing), for ``--latent-budget`` seconds including the
  decoder sharpening; conditional, and unconditional.

Each row gives the training epochs, images per second, the seconds to sample
the 1,000 digits at the model's default settings, and the scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _anchors import DDIM  # noqa: E402

from tfimagegen import data, diffusion, gan, metrics, runs, training  # noqa: E402

VALIDATION = data.load_mnist("validation", source="embedded")[0]
TEST = data.load_mnist("test", source="embedded")[0]
TRAIN, TRAIN_LABELS = data.load_mnist("train", source="embedded")
N = metrics.EVAL_SAMPLES


# ---- the runs ---------------------------------------------------------------------------------

def fit_for(model: keras.Model, dataset, seconds: float, steps_per_epoch: int,
            batch_size: int) -> dict:
    budget = training.TimeBudget(seconds)
    start = time.perf_counter()
    model.fit(dataset, epochs=100_000, steps_per_epoch=steps_per_epoch, verbose=0,
              callbacks=[budget])
    elapsed = time.perf_counter() - start
    return {"epochs": budget.epochs, "seconds": elapsed,
            "images/s": budget.epochs * steps_per_epoch * batch_size / elapsed}


def score(speed: dict, sample) -> tuple[dict, dict]:
    """Time ``sample()`` → (images, labels, value_range); score against validation and test."""
    start = time.perf_counter()
    images, labels, value_range = sample()
    speed = {**speed, "sample s": time.perf_counter() - start}
    return tuple({**speed, **metrics.evaluate(images, reference, labels, value_range=value_range)}
                 for reference in (VALIDATION, TEST))


def flow_row(recipe, seconds: float, seed: int, setup_seconds: float = 0.0):
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model, dataset, _ = diffusion.train_setup(recipe, {"seed": seed}, TRAIN, TRAIN_LABELS)
    setup = time.perf_counter() - start
    speed = fit_for(model, dataset, seconds - setup, recipe.steps_per_epoch, recipe.batch_size)
    speed["seconds"] += setup
    noise = tf.random.stateless_normal((N, *model.noise_shape), seed=[seed, 9])
    labels = gan.cycle_labels(N) if recipe.num_classes else None
    return model, score(speed, lambda: (model.generate(noise, labels), labels,
                                        model.output_range))


def latent_rows(args) -> dict:
    vae_run = Path(args.vae_run)
    if not (vae_run / "vae.keras").is_file():
        runs.train("vae", vae_run, seed=args.seed, data="mnist", verbose=0)
    latent = diffusion.Recipe().for_latents(str(vae_run.resolve()))
    model, rows = flow_row(latent, args.latent_budget, args.seed)
    out = {"flow, latents": rows}
    noise = tf.random.stateless_normal((N, *model.noise_shape), seed=[args.seed, 9])
    for name, w, below in (("  same, w=1 (no guidance)", 1.0, 1.0),
                           ("  same, w=2 on all the path", 2.0, 1.0)):
        out[name] = score({**rows[0]}, lambda w=w, b=below: (
            model.generate(noise, gan.cycle_labels(N), guidance=w, guidance_below=b),
            gan.cycle_labels(N), model.output_range))
    out["flow, latents, uncond."] = flow_row(dataclasses.replace(latent, num_classes=0),
                                             args.latent_budget, args.seed)[1]
    return out


def pixel_rows(args) -> dict:
    return {"flow, pixels": flow_row(diffusion.Recipe(), args.budget, args.seed)[1]}


def ddim_rows(args) -> dict:
    keras.utils.set_random_seed(args.seed)
    ddim = DDIM(args.seed, TRAIN.shape[1:])
    ddim.normalizer.adapt(TRAIN.astype(np.float32) / 255.0)
    ddim.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4))
    dataset = data.as_dataset(TRAIN, 64, seed=args.seed, scale="unit", repeat=True)
    speed = fit_for(ddim, dataset, args.budget, -(-len(TRAIN) // 64), 64)
    noise = tf.random.stateless_normal((N, 28, 28, 1), seed=[args.seed, 9])
    # its EMA (0.999, no warm-up) still holds 0.999**steps of the initial weights: the raw
    # network shows what was learned
    return {"keras-io DDIM": score(speed, lambda: (ddim.generate(noise), None, (0.0, 1.0))),
            "  same, raw network": score(speed, lambda: (ddim.generate(noise, ema=False), None,
                                                         (0.0, 1.0)))}


def gan_rows(args) -> dict:
    keras.utils.set_random_seed(args.seed)
    recipe = gan.Recipe()
    model = gan.build_gan(recipe, args.seed)
    dataset = data.as_dataset(TRAIN, recipe.batch_size, seed=args.seed, labels=TRAIN_LABELS,
                              repeat=True)
    speed = fit_for(model, dataset, args.budget, recipe.steps_per_epoch, recipe.batch_size)
    z = tf.random.stateless_normal((N, recipe.latent_dim), seed=[args.seed, 9])
    return {"conditional GAN": score(speed, lambda: (
        model.sample(z, gan.cycle_labels(N)).numpy(), gan.cycle_labels(N), (-1.0, 1.0)))}


ROWS = {"latent": latent_rows, "pixel": pixel_rows, "ddim": ddim_rows, "gan": gan_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds for each pixel-space model and the GAN (default 600)")
    parser.add_argument("--latent-budget", type=float, default=60.0,
                        help="seconds for each latent-space model, beyond its VAE (default 60)")
    parser.add_argument("--vae-run", default="notebooks/outputs/03_vae",
                        help="a finished VAE run folder (trained with the VAE recipe if missing)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=list(ROWS), default=list(ROWS),
                        help="run only these generators (default: all)")
    args = parser.parse_args()

    none = {"epochs": "", "seconds": 0.0, "images/s": 0.0, "sample s": 0.0}
    validation = {"real vs real (floor)": {**none, **metrics.evaluate(TRAIN, VALIDATION)}}
    test = {"real vs real (floor)": {**none, **metrics.evaluate(TRAIN, TEST)}}
    for key in args.only:
        for name, (on_validation, on_test) in ROWS[key](args).items():
            validation[name], test[name] = on_validation, on_test

    print(f"budget {args.budget:.0f} s per pixel model and GAN, {args.latent_budget:.0f} s per "
          f"latent model (VAE: {args.vae_run}); 3,000 embedded MNIST training digits; "
          f"{N} samples")
    print_table("against the 1,000 validation digits (what settings are chosen by):", validation)
    print_table("against the 1,000 test digits (reported once):", test)


def print_table(title: str, rows: dict) -> None:
    print(title)
    header = ["", "epochs", "train s", "img/s", "sample s", "FD", "KID", "class", "prec",
              "recall", "label acc"]
    print(f"{header[0]:28}" + "".join(f"{h:>9}" for h in header[1:-1]) + f"{header[-1]:>10}")
    for name, r in rows.items():
        accuracy = f"{r['label_accuracy']:10.3f}" if "label_accuracy" in r else ""
        print(f"{name:28}{r['epochs']!s:>9}{r['seconds']:9.0f}{r['images/s']:9.0f}"
              f"{r['sample s']:9.1f}{r['fd']:9.2f}{r['kid']:9.3f}{r['class_score']:9.2f}"
              f"{r['precision']:9.2f}{r['recall']:9.2f}{accuracy}")
    floor = rows["real vs real (floor)"]["fd"]
    for name in rows:
        if name != "real vs real (floor)":
            print(f"{name.strip()}: FD {rows[name]['fd'] / floor:.1f}x the floor")
    for ddim in ("keras-io DDIM", "  same, raw network"):
        if ddim in rows and "flow, pixels" in rows:
            print(f"{ddim.strip()} / flow, pixels: FD ratio "
                  f"{rows[ddim]['fd'] / rows['flow, pixels']['fd']:.1f}x")


if __name__ == "__main__":
    main()
