"""Put generated images to work: train a fresh classifier on them, test it on real ones.

Taught in ``notebooks/05_judge_and_use.ipynb``.

The *classification accuracy score* (Ravuri & Vinyals 2019, arXiv:1905.10887)
asks a generator a practical question: train a classifier only on its samples,
test it on real test digits, and compare with the same classifier trained on
real digits. The classifier here, :func:`make_student`, is deliberately *not*
the scorer inside :mod:`tfimagegen.metrics`: that one judged the samples, so
it must not also be the thing that learns from them.

Every classifier trains for the same number of optimiser steps
(:data:`Recipe`, that is :class:`tfimagegen.recipes.StudentRecipe`), however
many images it has, so 100 digits and 6,000 digits get the same compute.

* :func:`train_student` / :func:`accuracy` / :func:`class_recall`: the
  classifier and its test scores, in percent.
* :func:`take_per_class` and :func:`drop_class`: scarce and unbalanced real
  data.
* :func:`generate_for_labels`: images of given classes from a conditional run.
* :func:`synthetic_accuracy`: real, synthetic and real + synthetic accuracy of
  a run, as ``python -m tfimagegen synthetic-accuracy`` prints it.
* :class:`NoiseAugment` and :func:`noise_robustness`: lesson 01's noise used as
  augmentation, and accuracy against noise strength; :data:`CORRUPTIONS` and
  :func:`corruption_accuracy`: accuracy on corruptions the augmentation
  showed (in its range) and on ones it never showed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfimagegen import data, noise, rundata, runs
from tfimagegen.recipes import StudentRecipe as Recipe

__all__ = [
    "Recipe",
    "make_student",
    "NoiseAugment",
    "train_student",
    "accuracy",
    "class_recall",
    "take_per_class",
    "drop_class",
    "generate_for_labels",
    "synthetic_accuracy",
    "classification_accuracy",
    "noise_robustness",
    "CORRUPTIONS",
    "corruption_accuracy",
]

NUM_CLASSES = 10


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_images(images: object, labels: object, name: str = "images",
                  num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(N, H, W, C)`` images and int32 ``(N,)`` classes in [0, ``num_classes``),
    or a clear error. ``(N, H, W)`` grey images gain their channel axis."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8 or x.ndim != 4 or not len(x):
        raise ValueError(f"{name} must be uint8 (N, H, W[, C]) images with N >= 1, e.g. "
                         f"(N, 28, 28, 1) digits, got {x.dtype} {np.shape(images)}")
    y = np.asarray(labels)
    if y.shape != (len(x),) or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be {len(x)} integers (one per image), got {y.dtype} "
                         f"{y.shape}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must be classes in [0, {num_classes}), got {y.min()} to "
                         f"{y.max()}")
    return x, y.astype(np.int32)


def make_student(num_classes: int = NUM_CLASSES,
                 image_shape: tuple[int, int, int] = data.DIGIT_SHAPE) -> keras.Model:
    """A small CNN: float ``(batch, H, W, C)`` in [0, 1] → ``num_classes`` logits.

    Smaller than the metrics' scorer (2 convolutions with pooling, about 0.2 M
    parameters for digits) and trained from scratch each time.
    """
    return keras.Sequential([
        keras.Input(image_shape),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),  # 14x14 for digits
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),  # 7x7
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, name="logits"),
    ], name="student")


@keras.saving.register_keras_serializable(package="tfimagegen")
class NoiseAugment(layers.Layer):
    """While training only: lesson 01's Gaussian and salt-and-pepper noise on [0, 1] digits.

    Each image gets Gaussian noise of a standard deviation drawn from
    U(0, ``max_stddev``), and then, with probability ``salt_pepper_rate``, a
    fraction drawn from U(0, ``max_fraction``) of its pixels set to 0 or 1;
    the result is clipped to [0, 1]. At inference it passes images through.
    """

    def __init__(self, max_stddev: float = 0.5, max_fraction: float = 0.2,
                 salt_pepper_rate: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, value, high in (("max_stddev", max_stddev, math.inf),
                                  ("max_fraction", max_fraction, 1.0),
                                  ("salt_pepper_rate", salt_pepper_rate, 1.0)):
            if not (isinstance(value, numbers.Real) and 0 <= value <= high):
                raise ValueError(f"{name} must be a number in [0, {high:g}], got {value!r}")
        self.max_stddev = float(max_stddev)
        self.max_fraction = float(max_fraction)
        self.salt_pepper_rate = float(salt_pepper_rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        batch = keras.ops.shape(x)[0]
        stddev = keras.random.uniform((batch, 1, 1, 1), 0.0, self.max_stddev,
                                      seed=self.seed_generator)
        x = x + stddev * keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)
        fraction = self.max_fraction * keras.random.uniform((batch, 1, 1, 1),
                                                            seed=self.seed_generator)
        fraction *= keras.ops.cast(keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator)
                                   < self.salt_pepper_rate, x.dtype)
        hit = keras.random.uniform(keras.ops.shape(x), seed=self.seed_generator) < fraction
        salt = keras.ops.cast(keras.random.uniform(keras.ops.shape(x), seed=self.seed_generator)
                              < 0.5, x.dtype)
        return keras.ops.clip(keras.ops.where(hit, salt, x), 0.0, 1.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_stddev": self.max_stddev,
                "max_fraction": self.max_fraction, "salt_pepper_rate": self.salt_pepper_rate,
                "seed": self.seed}


def train_student(images, labels, *, seed: int = 0, steps: int = Recipe.steps,
                  augment: layers.Layer | None = None,
                  num_classes: int = NUM_CLASSES) -> keras.Model:
    """A fresh :func:`make_student` trained on uint8 images for ``steps`` batches.

    Args:
        images: uint8 ``(N, H, W[, C])`` in [0, 255], real or generated (digits:
            ``(N, 28, 28[, 1])``).
        labels: int ``(N,)`` classes in [0, ``num_classes``).
        seed: weights and data order.
        steps: optimiser steps of ``Recipe.batch_size`` images (the same whatever N).
        augment: a layer applied to each [0, 1] training batch (e.g. :class:`NoiseAugment`).
        num_classes: the classes the student tells apart (10 digits by default).

    Returns:
        The trained ``keras.Model`` (without ``augment``): [0, 1] images → logits.

    Raises:
        ValueError: bad images, labels or ``steps``.
    """
    x, y = _check_images(images, labels, num_classes=num_classes)
    steps = _check_int("steps", steps, 1)
    keras.utils.set_random_seed(seed)
    model = make_student(num_classes, x.shape[1:])
    trainer = model if augment is None else keras.Sequential(
        [keras.Input(x.shape[1:]), augment, model], name="augmented_student")
    schedule = keras.optimizers.schedules.CosineDecay(Recipe.learning_rate, decay_steps=steps)
    trainer.compile(optimizer=keras.optimizers.Adam(schedule),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = data.as_dataset(x, Recipe.batch_size, seed=seed, labels=y, scale="unit",
                              repeat=True)  # shuffled by tf.data, hence shuffle=False below
    trainer.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return model


def _predict(model: keras.Model, images, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes, by calling ``model`` on batches: no ``predict`` function is
    traced per model, so scoring many fresh students stays quick (and quiet)."""
    x = data.to_unit_images(images)
    return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch_size],
                                                            training=False)).argmax(-1)
                           for i in range(0, len(x), batch_size)])


def accuracy(model: keras.Model, images, labels) -> float:
    """Percent of ``images`` (uint8 or float [0, 1] digits) ``model`` classifies as ``labels``."""
    x, y = np.asarray(images), np.asarray(labels)
    if y.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {y.shape}")
    return float(100 * np.mean(_predict(model, x) == y))


def class_recall(model: keras.Model, images, labels) -> np.ndarray:
    """float64 ``(K,)``: for each of the model's K classes, the percent of its images
    classified as it (NaN for a class without images)."""
    x, y = np.asarray(images), np.asarray(labels)
    if y.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {y.shape}")
    hits = _predict(model, x) == y
    return np.array([100 * hits[y == c].mean() if np.any(y == c) else np.nan
                     for c in range(model.output_shape[-1])])


def take_per_class(images, labels, per_class: int, seed: int = 0,
                   num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` images of each of ``num_classes`` classes, drawn without replacement
    with ``seed``.

    Returns:
        ``(images, labels)`` in a shuffled order, ``num_classes * per_class`` of them.

    Raises:
        ValueError: ``per_class`` < 1 or more than the rarest class has.
    """
    x, y = _check_images(images, labels, num_classes=num_classes)
    per_class = _check_int("per_class", per_class, 1)
    counts = np.bincount(y, minlength=num_classes)
    if per_class > counts.min():
        raise ValueError(f"per_class must be at most {counts.min()} (the rarest class's count "
                         f"here), got {per_class}")
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                           for c in range(num_classes)])
    keep = rng.permutation(keep)
    return x[keep], y[keep]


def drop_class(images, labels, digit: int, keep: int, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """All digits, but only ``keep`` (drawn with ``seed``) of class ``digit``."""
    x, y = _check_images(images, labels)
    if not (isinstance(digit, numbers.Integral) and 0 <= digit < NUM_CLASSES):
        raise ValueError(f"digit must be a class in [0, {NUM_CLASSES}), got {digit!r}")
    keep = _check_int("keep", keep, 0)
    members = np.flatnonzero(y == digit)
    if keep > len(members):
        raise ValueError(f"keep must be at most {len(members)} (the digits of class {digit}), "
                         f"got {keep}")
    kept = np.random.default_rng(seed).choice(members, keep, replace=False)
    mask = y != digit
    mask[kept] = True
    return x[mask], y[mask]


def generate_for_labels(run_dir: str | Path, labels, seed: int = 0, **options) -> np.ndarray:
    """uint8 ``(len(labels), H, W, C)`` images of a conditional run (its data's shape),
    one per label.

    Args:
        run_dir: a finished conditional run folder (``train gan`` or ``train diffusion``).
        labels: int ``(N,)`` classes to draw.
        seed: the noise.
        options: the family's sample options (diffusion: ``steps``, ``guidance``).

    Raises:
        runs.RunError: not a finished run, an unconditional one, or a bad option.
        ValueError: ``labels`` that are not 1 to ``runs.MAX_SAMPLES`` classes of the run.
    """
    run = runs.check_conditional_run(Path(run_dir))
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or not 0 < len(labels) <= \
            runs.MAX_SAMPLES:
        raise ValueError(f"labels must be 1 to {runs.MAX_SAMPLES:,} integers, got {labels.dtype} "
                         f"{labels.shape}")
    num_classes = run["recipe"]["num_classes"]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be classes in [0, {num_classes}), got {labels.min()} to "
                         f"{labels.max()}")
    options = runs.check_sample_options(run, **options)
    saved, run = runs.load_run_model(Path(run_dir))
    module = runs.family(run["model"]).load()
    z = tf.random.stateless_normal((len(labels), *module.noise_shape(saved)), seed=[seed, 1])
    return module.generate(saved, z, labels.astype(np.int32), **options)


def _run_splits(run: dict) -> tuple[tuple, tuple]:
    """The real training and test images of the data a run trained on, with labels.

    A run on an ``.npz`` file (no splits) of 28×28 grey digits, as lessons 02-05
    write, is tested on MNIST's; any other ``.npz`` run has no test split."""
    source = rundata.recorded(run)["source"]
    if rundata.is_npz(source):
        if list(rundata.recorded(run)["shape"]) != list(data.DIGIT_SHAPE):
            raise runs.RunError(f"this run trained on {source}, a file without a test split; "
                                "pass train= and test= (real images and labels)")
        return data.load_mnist("train"), data.load_mnist("test")
    train, test = (rundata.other_split(run, split) for split in ("train", "test"))
    return (train.images, train.labels), (test.images, test.labels)


def synthetic_accuracy(run_dir: str | Path, *, per_class: int | None = None, seed: int = 0,
                       steps: int = Recipe.steps, train=None, test=None) -> dict:
    """The classification accuracy score of a conditional run, next to real data's.

    Three students (:func:`train_student`), each tested on the real test
    split of the data the run trained on (its ``run.json`` names it):

    * ``"real"``: trained on the real training images (``per_class`` of each
      class if given, all of them otherwise);
    * ``"synthetic"``: trained only on generated images, as many as the whole
      real training split and with its class counts;
    * ``"real_plus_synthetic"``: both sets together.

    Args:
        run_dir: a finished conditional run folder.
        per_class: limit the real images to this many per class.
        seed: the students' weights and order, the generator's noise, and the
            ``per_class`` draw.
        steps: optimiser steps per student.
        train, test: ``(images, labels)`` uint8 images of the run's shape;
            default the training and test splits of the run's data (for runs
            on 28×28 digit ``.npz`` files, ``data.load_mnist``'s).

    Returns:
        ``{"real", "synthetic", "real_plus_synthetic", "per_class"}``:
        test accuracies in percent, and ``per_class`` (``None``: all images).

    Raises:
        runs.RunError: as :func:`generate_for_labels`, or a run on an ``.npz``
            file of another shape with no ``train`` and ``test`` given.
        ValueError: a bad ``per_class`` or ``steps``.
    """
    run = runs.check_conditional_run(Path(run_dir))
    num_classes = run["recipe"]["num_classes"]
    if train is None or test is None:
        own_train, own_test = _run_splits(run)
        train, test = train or own_train, test or own_test
    x_train, y_train = _check_images(*train, name="train images", num_classes=num_classes)
    real = (x_train, y_train) if per_class is None else take_per_class(
        x_train, y_train, per_class, seed, num_classes)
    steps = _check_int("steps", steps, 1)
    fake_labels = np.random.default_rng(seed).permutation(y_train)
    fake = generate_for_labels(run_dir, fake_labels, seed), fake_labels
    return {**classification_accuracy(real, fake, test, seed=seed, steps=steps,
                                      num_classes=num_classes), "per_class": per_class}


def classification_accuracy(real, synthetic, test, *, seed: int = 0,
                            steps: int = Recipe.steps,
                            num_classes: int = NUM_CLASSES) -> dict[str, float]:
    """Test accuracy of three fresh students: on ``real``, on ``synthetic``, on both.

    The measurement inside :func:`synthetic_accuracy`, for images from
    anywhere: replayed real digits score about what real ones do, random noise
    about chance (10 %).

    Args:
        real, synthetic, test: ``(images, labels)``, uint8 ``(N, H, W[, C])``
            images of one shape and their int classes in [0, ``num_classes``).
        seed: every student's weights and data order.
        steps: optimiser steps per student.
        num_classes: the classes (10 digits by default).

    Returns:
        ``{"real", "synthetic", "real_plus_synthetic"}``, in percent.

    Raises:
        ValueError: bad images, labels or ``steps``.
    """
    real, synthetic, (x_test, y_test) = (
        _check_images(*pair, name=f"{name} images", num_classes=num_classes)
        for pair, name in ((real, "real"), (synthetic, "synthetic"), (test, "test")))
    both = np.concatenate([real[0], synthetic[0]]), np.concatenate([real[1], synthetic[1]])
    return {name: accuracy(train_student(*pair, seed=seed, steps=steps,
                                         num_classes=num_classes), x_test, y_test)
            for name, pair in (("real", real), ("synthetic", synthetic),
                               ("real_plus_synthetic", both))}


def noise_robustness(model: keras.Model, images, labels, stddevs, seed: int = 0
                     ) -> list[float]:
    """Test accuracy (percent) at each Gaussian noise std, with lesson 01's ``add_gaussian``.

    The noise is added to [0, 1] digits and clipped to [0, 1]; ``seed`` fixes it,
    so two models see the same noisy digits.
    """
    x = data.to_unit_digits(images)
    return [accuracy(model, noise.add_gaussian(x, stddev=s, seed=seed), labels) for s in stddevs]


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    import scipy.ndimage

    return scipy.ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0))


# name -> (unit-float digits (N, 28, 28, 1), seed) -> corrupted digits in [0, 1].
# NoiseAugment's defaults show Gaussian noise of sigma up to 0.5 and salt and
# pepper on up to 20 % of the pixels: the first two are in that range, the
# last three are not (stronger Gaussian noise, shot noise, blur).
CORRUPTIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "Gaussian σ 0.3 (seen)": lambda x, seed: noise.add_gaussian(x, stddev=0.3, seed=seed),
    "salt and pepper 10 % (seen)": lambda x, seed: noise.salt_and_pepper(x, amount=0.1,
                                                                          seed=seed),
    "Gaussian σ 0.7 (unseen)": lambda x, seed: noise.add_gaussian(x, stddev=0.7, seed=seed),
    "Poisson, peak 2 (unseen)": lambda x, seed: noise.poisson(x, peak=2.0, seed=seed),
    "blur σ 1.5 px (unseen)": lambda x, seed: _blur(x, 1.5),
}


def corruption_accuracy(model: keras.Model, images, labels,
                        corruptions: dict[str, Callable] | None = None, seed: int = 0
                        ) -> dict[str, float]:
    """Accuracy (percent) on clean digits and on each corruption of :data:`CORRUPTIONS`.

    Args:
        model: a trained student.
        images, labels: uint8 or [0, 1] digits and their classes.
        corruptions: ``{name: f(x, seed)}`` on float32 ``(N, 28, 28, 1)`` in
            [0, 1]; default :data:`CORRUPTIONS`.
        seed: the noise, so two models see the same corrupted digits.

    Returns:
        ``{"clean": ..., name: ...}`` in the order of ``corruptions``.
    """
    x = np.asarray(data.to_unit_digits(images))
    scores = {"clean": accuracy(model, x, labels)}
    for name, corrupt in (CORRUPTIONS if corruptions is None else corruptions).items():
        scores[name] = accuracy(model, np.asarray(corrupt(x, seed)), labels)
    return scores
