"""Feature spaces: the classifier whose inner layer FD, KID and precision/recall compare.

Used by :func:`tfimagegen.metrics.evaluate` and ``python -m tfimagegen
evaluate --data SOURCE``.

FID compares images in the features of InceptionV3, a network trained on
ImageNet photos. For digits, emoji or your own pictures we train a small CNN,
:func:`make_classifier`, on the training split of the data being scored, and
take its penultimate layer ``"features"``. Which one is used:

* ``mnist`` (and 28×28 grey files without a source): :data:`DIGITS`, shipped.
* ``emoji`` at 32 px: :data:`EMOJI`, shipped, trained by ``python -m
  tfimagegen train-classifier --data emoji`` from the installed OpenMoji font,
  class-weighted because People & Body holds about 60 % of the glyphs.
* Any other source or size: trained on that source's training split on first
  use (about :data:`STEPS` steps, a minute or two on two cores, from He's
  initial weights: see :data:`INITIALIZER`) and cached
  under :func:`tfimagegen.files.cache_folder`, keyed by the fingerprint of the
  training split, so a second command reuses it. A source without labels has
  no classes to learn: its network learns instead which of four rotations an
  image was turned by (Gidaris et al. 2018, arXiv:1803.07728), and class-based
  scores are not given.

A classifier never sees the test split it is scored on; it reports its
accuracy there.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tfimagegen import data, files, rundata

if TYPE_CHECKING:
    import keras

__all__ = ["FeatureSpace", "DIGITS", "EMOJI", "STEPS", "ROTATIONS", "INITIALIZER",
           "SHIPPED_INITIALIZER", "make_classifier", "initializer_for",
           "fit_classifier", "train_space", "space_of", "save_space", "cached_path", "for_source",
           "for_images", "load_model", "features_and_probs"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
STEPS = 2000  # optimiser steps of BATCH images for a feature space trained here
BATCH = 64
SEED = 0
LEARNING_RATE = 2e-3
SHIFT = 0.0625  # random translation, a fraction of the side (2 px at 32 px)
ROTATIONS = ("0", "90", "180", "270")  # the classes of an unlabelled source's space
SHIPPED_INITIALIZER = "glorot_uniform"  # Keras's default: the shipped DIGITS and EMOJI began so
# Spaces trained here begin from He et al.'s (2015) initial weights instead. From Keras's
# default the CNN's features hardly varied on some folders (std 0.002 over Pillow-drawn
# shapes on shaded backgrounds) and its loss never left ln K; from He's it learnt them
# (benchmarks/README.md, "The default recipes on folders they were not tuned on").
INITIALIZER = "he_normal"


@dataclasses.dataclass(frozen=True)
class FeatureSpace:
    """A classifier of ``image_shape`` images into ``class_names``, in a weights file.

    ``labelled`` is ``False`` for a space learnt from rotations (its classes are
    :data:`ROTATIONS`, not the data's): then no class score or label accuracy.
    """

    name: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    weights: Path
    labelled: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DIGITS = FeatureSpace("digits", data.DIGIT_SHAPE, data.DIGIT_NAMES,
                      WEIGHTS_DIR / "digit_classifier.weights.h5")


def _emoji_space() -> FeatureSpace:
    from tfimagegen import emoji

    return FeatureSpace("emoji", (emoji.DEFAULT_SIZE, emoji.DEFAULT_SIZE, 3), emoji.GROUPS,
                        WEIGHTS_DIR / "emoji_classifier.weights.h5")


EMOJI = _emoji_space()


def make_classifier(image_shape: tuple[int, int, int] = data.DIGIT_SHAPE,
                    num_classes: int = len(data.DIGIT_NAMES), name: str = "digit_classifier",
                    initializer: str = SHIPPED_INITIALIZER) -> keras.Sequential:
    """The scorer's CNN: float ``(batch, S, S, C)`` in [0, 1] → ``num_classes`` logits.

    Pairs of 3×3 convolutions, the second of each with stride 2, halve the
    image until it is at most 8 pixels wide (28 → 14 → 7, 32 → 16 → 8,
    64 → 32 → 16 → 8); then one more convolution, global average pooling, and
    the 128-unit layer ``"features"`` that the scores compare. At 28×28×1 this is
    the digit classifier of lessons 01–05, layer for layer. ``initializer``
    starts the convolutions' kernels (a Keras initializer's name); it changes
    no shape, so any weights file of this design loads whatever it was.
    """
    import keras
    from keras import layers

    stack, side, width = [keras.Input(image_shape)], image_shape[0], 32
    while side > 8:
        stack += [layers.Conv2D(width, 3, padding="same", activation="relu",
                                kernel_initializer=initializer),
                  layers.Conv2D(width, 3, strides=2, padding="same", activation="relu",
                                kernel_initializer=initializer)]
        side, width = -(-side // 2), min(2 * width, 128)
    return keras.Sequential([
        *stack,
        layers.Conv2D(128, 3, padding="same", activation="relu",
                      kernel_initializer=initializer),
        layers.GlobalAveragePooling2D(),
        layers.Dense(128, activation="relu", name="features"),
        layers.Dropout(0.3),
        layers.Dense(num_classes, name="logits"),
    ], name=name)


def fit_classifier(model: keras.Model, augment: keras.layers.Layer, images: np.ndarray,
                   labels: np.ndarray, *, seed: int, epochs: int,
                   steps_per_epoch: int | None = None,
                   class_weight: dict[int, float] | None = None, verbose: int = 0) -> None:
    """Train ``model`` behind the ``augment`` layers, Adam with a cosine-decayed rate.

    Args:
        images, labels: uint8 ``(N, S, S, C)`` and int ``(N,)``.
        seed: data order (set the weights' seed before building ``model``).
        epochs: passes; with ``steps_per_epoch``, of that many batches of a
            repeated dataset instead of one pass over the images each.
        class_weight: a loss weight per class.
        verbose: Keras's: 0 quiet, 1 a progress bar, 2 a line per epoch.
    """
    import keras

    per_epoch = steps_per_epoch or -(-len(images) // BATCH)
    trainer = keras.Sequential([keras.Input(images.shape[1:]), augment, model])
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE,
                                                      decay_steps=epochs * per_epoch)
    trainer.compile(optimizer=keras.optimizers.Adam(schedule),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    train = data.as_dataset(images, BATCH, seed=seed, labels=labels, scale="unit",
                            repeat=steps_per_epoch is not None)
    trainer.fit(train, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose,
                shuffle=False, class_weight=class_weight)  # tf.data shuffles


def _rotated(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image turned by 0, 90, 180 and 270 degrees, labelled by the turn."""
    turned = np.concatenate([np.rot90(images, k, axes=(1, 2)) for k in range(4)])
    return turned, np.repeat(np.arange(4, dtype=np.int32), len(images))


def train_space(train: rundata.RunData, test: rundata.RunData, *, seed: int = SEED,
                steps: int = STEPS, initializer: str = INITIALIZER, verbose: int = 0
                ) -> tuple[keras.Sequential, float, tuple[str, ...]]:
    """A :func:`make_classifier` trained on ``train``; its accuracy on ``test``.

    Labelled data trains on its classes, each weighted by the inverse of its
    share (so a class of 60 % does not swamp the features); unlabelled data
    on :data:`ROTATIONS`. Random shifts of up to :data:`SHIFT` of the side
    (edges repeated, as glyphs and photos continue outward) are the only
    augmentation: no flips, since mirrored emoji are other emoji.
    ``initializer``: see :func:`initializer_for`.

    Returns:
        ``(model, test_accuracy, class_names)``.
    """
    import keras
    from keras import layers

    x, y, names = train.images, train.labels, train.class_names
    x_test, y_test = test.images, test.labels
    if y is None:
        (x, y), (x_test, y_test), names = _rotated(x), _rotated(x_test), ROTATIONS
    counts = np.bincount(y, minlength=len(names))
    weights = {c: len(y) / (len(names) * n) for c, n in enumerate(counts) if n}
    keras.utils.set_random_seed(seed)
    model = make_classifier(x.shape[1:], len(names), name="classifier", initializer=initializer)
    augment = keras.Sequential([layers.RandomTranslation(SHIFT, SHIFT, fill_mode="nearest",
                                                         seed=seed)], name="augment")
    epochs = 10  # of STEPS / 10 batches each: a progress bar that moves
    fit_classifier(model, augment, x, y, seed=seed, epochs=epochs,
                   steps_per_epoch=max(1, steps // epochs), class_weight=weights,
                   verbose=verbose)
    logits = model.predict(data.scale_images(x_test, "unit"), batch_size=500, verbose=0)
    return model, float(np.mean(logits.argmax(-1) == y_test)), tuple(names)


def initializer_for(source: str | os.PathLike, image_size: int | None = None) -> str:
    """How a space for ``source`` at ``image_size`` begins: as the shipped file began
    for emoji at 32 px (whose space is only ever that file, so training one rebuilds
    it), else :data:`INITIALIZER`."""
    return SHIPPED_INITIALIZER if _shipped_emoji(rundata.source_name(source), image_size) \
        else INITIALIZER


def _shipped_emoji(name: str, image_size: int | None) -> bool:
    """Whether source ``name`` at ``image_size`` is scored by the shipped :data:`EMOJI`."""
    return name == "emoji" and image_size in (None, EMOJI.image_shape[0])


def cached_path(record: dict, initializer: str = INITIALIZER) -> Path:
    """Where a feature space trained on the data of ``record`` (a training split's
    :func:`tfimagegen.rundata.record_of`) from ``initializer`` is kept: by the data's
    fingerprint and the initializer, so a space of an earlier recipe is trained again."""
    return files.cache_folder() / "feature_spaces" / \
        f"{record['fingerprint']}-{initializer}.weights.h5"


def save_space(model: keras.Model, space: FeatureSpace, accuracy: float, source: str) -> None:
    """Write the weights to ``space.weights`` and, beside them, a ``.json`` naming what
    they classify."""
    path = space.weights
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path.with_suffix("").with_suffix(".json"),  # first: the weights mark it done
                     {"name": space.name, "source": source, "shape": list(space.image_shape),
                      "class_names": list(space.class_names), "labelled": space.labelled,
                      "test_accuracy": round(accuracy, 4)})
    with files.atomic_path(path) as partial:
        model.save_weights(partial)


def _read_space(path: Path) -> FeatureSpace:
    info = json.loads(path.with_suffix("").with_suffix(".json").read_text())
    return FeatureSpace(info["name"], tuple(info["shape"]), tuple(info["class_names"]), path,
                        info["labelled"])


def for_source(source: str | os.PathLike, *, image_size: int | None = None,
               fit: str | None = None, channels: int | None = None,
               announce=None, verbose: int = 0,
               train: rundata.RunData | None = None) -> FeatureSpace:
    """The feature space for images of ``source`` (a :data:`tfimagegen.data.DATA_SOURCES`
    name or a folder), drawn at ``image_size``: shipped, cached, or trained now.

    Args:
        announce: called with one line before a space is trained (the CLI prints it).
        verbose: Keras's progress output while training.
        train: the source's training split, if the caller has loaded it already.

    Raises:
        tfimagegen.runfolder.RunError: as :func:`tfimagegen.rundata.load`.
    """
    name = rundata.source_name(source)
    if name == "mnist":
        return DIGITS
    if _shipped_emoji(name, image_size):
        return EMOJI
    sized = {"image_size": image_size, "fit": fit, "channels": channels}
    train = train or rundata.load(name, "train", **sized)
    path = cached_path(train.record)
    if path.is_file():
        return _read_space(path)
    test = rundata.load(name, "test", **sized)
    shape = train.images.shape[1:]
    if announce is not None:
        announce(f"training a feature space on {name}'s training split ({len(train.images):,} "
                 f"images, {'x'.join(map(str, shape))}), once; it is kept in {path.parent}")
    model, accuracy, names = train_space(train, test, steps=STEPS, verbose=verbose)
    space = space_of(train, names)
    save_space(model, space, accuracy, name)
    return space


def space_of(train: rundata.RunData, class_names: tuple[str, ...],
             initializer: str = INITIALIZER) -> FeatureSpace:
    """The cached :class:`FeatureSpace` of a classifier trained on ``train`` from
    ``initializer`` (its name says the source, the shape and the fingerprint)."""
    shape = tuple(train.images.shape[1:])
    name = f"{Path(train.record['source']).name} {'x'.join(map(str, shape))} " \
           f"({train.record['fingerprint']})"
    return FeatureSpace(name, shape, class_names, cached_path(train.record, initializer),
                        train.labels is not None)


def for_images(shape: tuple[int, ...]) -> FeatureSpace:
    """The space for images of ``shape`` (H, W, C) given with no source: :data:`DIGITS`
    for digits; any other shape needs its source (32x32x3 could be emoji or CIFAR-10).

    Raises:
        ValueError: any other shape; one line naming ``--data``.
    """
    if tuple(shape) == DIGITS.image_shape:
        return DIGITS
    raise ValueError(f"images of shape {'x'.join(map(str, shape))} need --data SOURCE (the "
                     "data they imitate) to be scored; without it, evaluate takes 28x28x1 "
                     "digits")


@functools.lru_cache(maxsize=8)
def load_model(space: FeatureSpace) -> keras.Model:
    """The classifier of ``space`` as a model giving ``(features, logits)``; once per process."""
    import keras

    model = make_classifier(space.image_shape, space.num_classes,
                            "digit_classifier" if space == DIGITS else "classifier")
    model.load_weights(space.weights)
    return keras.Model(model.inputs, [model.get_layer("features").output, *model.outputs])


def features_and_probs(images: np.ndarray, space: FeatureSpace = DIGITS
                       ) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``(N, 128)`` features and ``(N, K)`` class probabilities of float
    ``(N, S, S, C)`` images in [0, 1] of ``space.image_shape``."""
    import keras

    feats, logits = load_model(space).predict(images, batch_size=500, verbose=0)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    return feats.astype(np.float64), probs.astype(np.float64)
