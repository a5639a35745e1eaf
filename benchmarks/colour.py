"""Colour generators per CPU-minute, on 32-px emoji (issue #19, section 5).

Run: ``.venv/bin/python benchmarks/colour.py [--budget SECONDS] [--only gan pixel latent
dcgan]`` (or ``make bench``). Offline: everything trains on the ``emoji``
source's training split and is scored once on its test split.

Every generator gets the same wall-clock budget (default 600 s, ten CPU-minutes
on two cores), counted from its own training history, set-up included:

* **GAN**: ``train gan --data emoji`` (conditional on the nine groups);
* **flow, pixels**: ``train diffusion --data emoji``;
* **flow, latents**: ``train vae --data emoji`` (the spatial f = 4 code) for
  ``--vae-share`` of the budget, then ``train diffusion --latent`` for the
  rest, so the autoencoder's minutes count;
* **keras-io DCGAN**: the recipe of keras.io/examples/generative/
  dcgan_overriding_train_step (CelebA faces at 64 px), rebuilt here at 32 px:
  a discriminator of three 4×4 stride-2 convolutions (64, 128, 128) with
  LeakyReLU 0.2, flatten, dropout 0.2 and a sigmoid; a generator from a
  128-number code through Dense 4·4·128 and three 4×4 stride-2 transposed
  convolutions (128, 256, 512) with LeakyReLU 0.2 to a 5×5 sigmoid convolution;
  binary cross-entropy with 0.05 uniform noise on the discriminator's labels,
  Adam 1e-4 for both, batch 32, pixels in [0, 1]. Unconditional, as keras-io's.

The runs live in ``outputs/bench_colour/`` (a second call resumes them up to the
same budget, so it costs little more than the scoring; a latent flow's VAE is
left as its flow learnt it). Each row is scored by
``metrics.evaluate`` in the shipped emoji feature space, with SWD, on as many
samples as the test split has glyphs; a conditional model draws the test
split's own labels, so its groups come in the test split's proportions. The
floor is the training glyphs, scored the same way. ``group read right`` is the
label accuracy over the share of real test glyphs the classifier reads right.
The last column is the seconds to draw 1,000 samples (the Python call).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from tfimagegen import data, features, metrics, rundata, runs, training  # noqa: E402

OUT = Path("outputs/bench_colour")
TRAIN = rundata.load("emoji", "train")
TEST = rundata.load("emoji", "test")
SEED = 0


def budget_run(model: str, out: Path, seconds: float, **options) -> float:
    """Train one epoch, then resume while the mean epoch so far says more fit in
    ``seconds`` (set-up included); returns the seconds the run's history says it took."""
    epochs = 1
    while True:
        runs.train(model, out, epochs=epochs, seed=SEED, data="emoji", verbose=0, **options)
        spent, done = runs.train_seconds(out), runs.read_run(out)["epochs"]
        per_epoch = (spent - runs.read_run(out).get("setup_seconds", 0.0)) / done
        more = int((seconds - spent) // per_epoch)
        if more < 1:
            return spent
        epochs = done + more


def score(images: np.ndarray, labels: np.ndarray | None) -> dict:
    return metrics.evaluate(images, TEST.images, labels, space=features.EMOJI,
                            training=TRAIN.images, floors=True)


def run_row(out: Path, seconds: float) -> dict:
    """Scores of a finished run, its cost and its sampling time."""
    images, labels = runs.sample_with_labels(out, len(TEST.images), SEED, labels=TEST.labels)
    row = {**score(images, labels), "seconds": seconds,
           "epochs": runs.read_run(out)["epochs"]}
    start = time.perf_counter()  # loading and tracing are behind us: the call a user times
    runs.sample_with_labels(out, 1000, SEED + 1, labels=np.resize(TEST.labels, 1000))
    return {**row, "sample_s": time.perf_counter() - start}


class KerasIoGAN(keras.Model):
    """keras-io's DCGAN training step: discriminator on fakes (label 1) and reals (0)
    with noisy labels, then the generator on fresh codes labelled real."""

    def __init__(self, discriminator: keras.Model, generator: keras.Model, latent_dim: int,
                 seed: int):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_fn = keras.losses.BinaryCrossentropy()
        self.d_loss = keras.metrics.Mean(name="d_loss")
        self.g_loss = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self) -> list:
        return [self.d_loss, self.g_loss]

    def compile(self, d_optimizer, g_optimizer) -> None:
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def train_step(self, real):
        batch = tf.shape(real)[0]
        codes = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        both = tf.concat([self.generator(codes), real], axis=0)
        targets = tf.concat([tf.ones((batch, 1)), tf.zeros((batch, 1))], axis=0)
        targets += 0.05 * keras.random.uniform(tf.shape(targets), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(targets, self.discriminator(both))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights,
                                             strict=True))
        codes = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(tf.zeros((batch, 1)),
                                  self.discriminator(self.generator(codes)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        self.d_loss.update_state(d_loss)
        self.g_loss.update_state(g_loss)
        return {"d_loss": self.d_loss.result(), "g_loss": self.g_loss.result()}


def keras_io_dcgan(shape: tuple[int, int, int], latent_dim: int = 128) -> KerasIoGAN:
    side = shape[0] // 8
    discriminator = keras.Sequential([
        keras.Input(shape),
        layers.Conv2D(64, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Flatten(), layers.Dropout(0.2), layers.Dense(1, activation="sigmoid"),
    ], name="keras_io_discriminator")
    generator = keras.Sequential([
        keras.Input((latent_dim,)),
        layers.Dense(side * side * 128), layers.Reshape((side, side, 128)),
        layers.Conv2DTranspose(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(256, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(512, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(shape[-1], 5, padding="same", activation="sigmoid"),
    ], name="keras_io_generator")
    model = KerasIoGAN(discriminator, generator, latent_dim, SEED)
    model.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4))
    return model


def dcgan_row(seconds: float) -> dict:
    keras.utils.set_random_seed(SEED)
    model = keras_io_dcgan(TRAIN.images.shape[1:])
    steps = -(-len(TRAIN.images) // 32)
    budget = training.TimeBudget(seconds)
    start = time.perf_counter()
    model.fit(data.as_dataset(TRAIN.images, 32, seed=SEED, scale="unit", repeat=True),
              epochs=100_000, steps_per_epoch=steps, verbose=0, callbacks=[budget],
              shuffle=False)  # tf.data shuffles
    elapsed = time.perf_counter() - start

    def draw(n: int, seed: int) -> np.ndarray:
        codes = tf.random.stateless_normal((n, model.latent_dim), seed=[seed, 9])
        return np.asarray(model.generator.predict(codes, batch_size=500, verbose=0))

    images = draw(len(TEST.images), SEED)
    start = time.perf_counter()
    draw(1000, SEED + 1)
    return {**metrics.evaluate(images, TEST.images, space=features.EMOJI,
                               training=TRAIN.images, floors=True, value_range=(0, 1)),
            "seconds": elapsed, "epochs": budget.epochs, "sample_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds per generator, set-up included (default 600)")
    parser.add_argument("--vae-share", type=float, default=0.4,
                        help="share of the latent flow's budget for its autoencoder")
    parser.add_argument("--only", nargs="*", default=["gan", "pixel", "latent", "dcgan"])
    args = parser.parse_args()

    out = OUT / f"{args.budget:.0f}s"
    rows = {"training glyphs (floor)": {**score(TRAIN.images[np.random.default_rng(SEED)
                                                              .permutation(len(TRAIN.images))],
                                              None), "seconds": 0.0, "epochs": ""}}
    if "gan" in args.only:
        rows["GAN"] = run_row(out / "gan", budget_run("gan", out / "gan", args.budget))
    if "pixel" in args.only:
        rows["flow, pixels"] = run_row(out / "pixel", budget_run("diffusion", out / "pixel",
                                                                 args.budget))
    if "latent" in args.only:
        if (out / "latent" / "run.json").is_file():  # the flow learnt this VAE's codes
            vae_seconds = runs.train_seconds(out / "vae")
        else:
            vae_seconds = budget_run("vae", out / "vae", args.vae_share * args.budget)
        flow_seconds = budget_run("diffusion", out / "latent", args.budget - vae_seconds,
                                  latent=str(out / "vae"))
        rows["flow, latents (VAE counted)"] = {**run_row(out / "latent", flow_seconds),
                                               "seconds": vae_seconds + flow_seconds}
    if "dcgan" in args.only:
        rows["keras-io DCGAN"] = dcgan_row(args.budget)
    print_table(args.budget, rows)


def print_table(budget: float, rows: dict) -> None:
    real_share = metrics.label_accuracy(TEST.images, TEST.labels, space=features.EMOJI)
    floor = rows["training glyphs (floor)"]
    print(f"emoji 32 px, budget {budget:.0f} s per generator, N = {floor['n']} against the "
          f"test split; real test glyphs read right: {real_share:.1%}")
    header = ["", "seconds", "epochs", "FD", "FD/floor", "SWD", "SWD/floor", "recall",
              "copies", "group", "1k draw s"]
    print(f"{header[0]:30}" + "".join(f"{h:>11}" for h in header[1:]))
    for name, r in rows.items():
        group = (f"{r['label_accuracy'] / real_share:11.0%}" if "label_accuracy" in r
                 else f"{'':>11}")
        sample = f"{r['sample_s']:11.1f}" if "sample_s" in r else ""
        print(f"{name:30}{r['seconds']:11.0f}{r['epochs']!s:>11}{r['fd']:11.2f}"
              f"{r['fd'] / floor['fd_floor']:11.1f}{r['swd']:11.1f}"
              f"{r['swd'] / floor['swd_floor']:11.1f}{r['recall']:11.2f}{r['copies']:11.2f}"
              f"{group}{sample}")
    print(f"floors at N = {floor['n']}: FD {floor['fd_floor']:.2f}, SWD {floor['swd_floor']:.1f}"
          f"; copy distance {floor['copy_distance']:.4f} RMS")


if __name__ == "__main__":
    main()
