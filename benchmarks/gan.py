"""GAN quality per CPU-minute: the project's recipe against the TF DCGAN tutorial's.

Run: ``.venv/bin/python benchmarks/gan.py [--budget SECONDS]`` (or ``make bench``).

Three recipes: the project's default (class-conditional, ``gan.Recipe()``), the
same recipe without labels (``gan.Recipe(num_classes=0)``, so the gain from
conditioning is measured, not assumed), and the TF DCGAN tutorial's. All three
train on the same digits (the 3,000 embedded MNIST training digits, so the run is
offline and repeatable) for the same wall-clock budget, then 1,000 samples of
each are scored with ``tfimagegen.metrics.evaluate``, next to the real-vs-real
floor (training digits scored the same way): first against the 1,000
validation digits, which is what recipes are chosen by, then, once, against the
1,000 test digits, which is what the README reports.

The tutorial recipe (tensorflow.org/tutorials/generative/dcgan) is rebuilt here:
Dense 7·7·256 → Conv2DTranspose 128 (stride 1) / 64 / 1 (stride 2), 5×5 kernels,
batch norm + LeakyReLU, tanh; discriminator Conv 64/128 stride 2 with dropout
0.3; BCE from logits; Adam 1e-4 for both; batch 256; noise dim 100. It runs
through the same ``GAN.train_step`` (discriminator update, then generator update)
with no weight averaging, so only the recipe differs. The conditional recipe's
1,000 samples show each digit 100 times; its row also gives the label accuracy
(how often the classifier reads the digit it was asked for).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from tfimagegen import data, gan, metrics, training  # noqa: E402


def tutorial_gan(seed: int) -> gan.GAN:
    generator = keras.Sequential([
        keras.Input((100,)),
        layers.Dense(7 * 7 * 256, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False,
                               activation="tanh"),
    ], name="tutorial_generator")
    discriminator = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(64, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Conv2D(128, 5, strides=2, padding="same"), layers.LeakyReLU(),
        layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1),
    ], name="tutorial_discriminator")
    model = gan.GAN(generator, discriminator, latent_dim=100, num_classes=0, ema=0.0, seed=seed)
    model.build()
    model.compile(d_optimizer=keras.optimizers.Adam(1e-4), g_optimizer=keras.optimizers.Adam(1e-4))
    return model


def train_for(model: gan.GAN, batch_size: int, seconds: float, seed: int,
              steps_per_epoch: int) -> tuple[dict, dict]:
    """Train for ``seconds``; return the scores against the validation and the test digits."""
    images, labels = data.load_mnist("train", source="embedded")
    dataset = data.as_dataset(images, batch_size, seed=seed, repeat=True,
                              labels=labels if model.num_classes else None)
    budget = training.TimeBudget(seconds)
    start = time.perf_counter()
    model.fit(dataset, epochs=100_000, steps_per_epoch=steps_per_epoch, verbose=0,
              callbacks=[budget])
    elapsed = time.perf_counter() - start
    z = tf.random.stateless_normal((metrics.EVAL_SAMPLES, model.latent_dim), seed=[seed, 9])
    labels = gan.cycle_labels(len(z), model.num_classes) if model.num_classes else None
    samples = model.sample(z, labels).numpy()
    speed = {"epochs": budget.epochs, "seconds": elapsed,
             "images/s": budget.epochs * steps_per_epoch * batch_size / elapsed}
    return tuple({**speed, **metrics.evaluate(samples, reference, labels=labels)}
                 for reference in (VALIDATION, TEST))


VALIDATION = data.load_mnist("validation", source="embedded")[0]
TEST = data.load_mnist("test", source="embedded")[0]


def print_table(title: str, rows: dict) -> None:
    print(title)
    header = ["", "epochs", "img/s", "FD", "KID", "class", "prec", "recall", "label acc"]
    print(f"{header[0]:22}" + "".join(f"{h:>10}" for h in header[1:]))
    for name, r in rows.items():
        label_accuracy = f"{r['label_accuracy']:10.3f}" if "label_accuracy" in r else ""
        print(f"{name:22}{r['epochs']!s:>10}{r['images/s']:10.0f}{r['fd']:10.2f}{r['kid']:10.3f}"
              f"{r['class_score']:10.2f}{r['precision']:10.2f}{r['recall']:10.2f}{label_accuracy}")
    tutorial, floor = rows["TF DCGAN tutorial"], rows["real vs real (floor)"]
    for name in ("tfimagegen recipe", "same, unconditional"):
        print(f"{name}: FD ratio tutorial/it {tutorial['fd'] / rows[name]['fd']:.1f}x, "
              f"it vs floor {rows[name]['fd'] / floor['fd']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=150.0,
                        help="seconds per recipe (default: about what the 30-epoch recipe takes)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_x, _ = data.load_mnist("train", source="embedded")
    none = {"epochs": "", "seconds": 0.0, "images/s": 0.0}
    validation = {"real vs real (floor)": {**none, **metrics.evaluate(train_x, VALIDATION)}}
    test = {"real vs real (floor)": {**none, **metrics.evaluate(train_x, TEST)}}
    recipes = {"tfimagegen recipe": (gan.Recipe(), None),
               "same, unconditional": (gan.Recipe(num_classes=0), None),
               "TF DCGAN tutorial": (None, 256)}
    for name, (recipe, batch) in recipes.items():
        keras.utils.set_random_seed(args.seed)
        model = tutorial_gan(args.seed) if recipe is None else gan.build_gan(recipe, args.seed)
        batch = batch or recipe.batch_size
        steps = -(-len(train_x) // batch) if recipe is None else recipe.steps_per_epoch
        validation[name], test[name] = train_for(model, batch, args.budget, args.seed, steps)

    print(f"budget {args.budget:.0f} s per recipe, 3,000 embedded MNIST training digits, "
          f"{metrics.EVAL_SAMPLES} samples")
    print_table("against the 1,000 validation digits (what recipes are chosen by):", validation)
    print_table("against the 1,000 test digits (reported once):", test)


if __name__ == "__main__":
    main()
