"""How good are generated images? Scores that need no download.

Used by ``notebooks/01_noise_images.ipynb`` (closing section) and every
generative lesson after it.

The usual scores (FID, KID, Inception Score) run images through InceptionV3,
whose weights must be downloaded, and which was never trained on digits or
emoji. Here a small CNN trained on the data being scored plays Inception's
part (:mod:`tfimagegen.features`): for digits, :func:`make_classifier`,
trained on the embedded MNIST digits, whose weights ship inside the package
(``tfimagegen/weights/digit_classifier.weights.h5``); ``python -m tfimagegen
train-classifier`` rebuilds them from a seed (bit for bit on the same kind of
CPU; oneDNN's kernels differ between CPU types). Its 128-unit penultimate
layer ``"features"`` is the feature space.

* :func:`frechet_distance` (FD; Heusel et al. 2017, arXiv:1706.08500): distance
  between Gaussians fitted to the two feature sets. Biased by the sample count,
  so :func:`evaluate` compares the same number N of images on each side.
* :func:`kernel_distance` (KID; Bińkowski et al. 2018, arXiv:1801.01401):
  unbiased squared MMD with the kernel ``(x·y / d + 1)**3``.
* :func:`class_score`: the Inception-score formula ``exp(E[KL(p(y|x) || p(y))])``
  on our classifier; K at best (confident and balanced over K classes), 1 at worst.
* :func:`precision_recall` (Kynkäänniemi et al. 2019, arXiv:1904.06991): the
  fraction of samples inside the real data's k-NN manifold, and vice versa.
* :func:`label_accuracy`: for conditional models, how often the classifier
  agrees with the label the sample was made for.
* :func:`nearest_training` and :func:`copy_share`: each sample's nearest
  training image in pixels, and the share of samples closer to one than
  :data:`COPY_DISTANCE` (digits) or :func:`copy_distance_for` (any other
  data): near-copies, which every score above rewards.
* ``evaluate(..., floors=True)`` adds the model-free sliced Wasserstein
  distance (:mod:`tfimagegen.swd`) and, for FD and SWD, the real-vs-real floor.

Images may be uint8 [0, 255], float [0, 1] or float [-1, 1]
(:func:`tfimagegen.data.to_unit_images` states the detection rule).
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
from scipy import linalg
from scipy.spatial import distance

from tfimagegen import data, features, swd

__all__ = [
    "EVAL_SAMPLES",
    "WEIGHTS_PATH",
    "make_classifier",
    "train_classifier",
    "load_classifier",
    "features_and_probs",
    "frechet_distance",
    "kernel_distance",
    "class_score",
    "precision_recall",
    "label_accuracy",
    "COPY_DISTANCE",
    "COPY_QUANTILE",
    "nearest_training",
    "copy_share",
    "copy_distance_for",
    "evaluate",
]

EVAL_SAMPLES = 1000  # images per side the lessons score: the embedded test split has 1,000
MIN_SAMPLES = 10  # evaluate() needs a few: precision/recall look at 3 neighbours, KID at pairs
WEIGHTS_PATH = features.DIGITS.weights
CLASSIFIER_EPOCHS = 30  # reaches 97-98 % on the embedded test split, depending on the CPU
CLASSIFIER_SEED = 0
# Root-mean-square pixel difference, in [0, 1] units, below which a sample counts as a
# copy of a training digit. None of the 2,000 embedded validation and test digits comes
# this close to one of the 3,000 training digits (their nearest: 0.042 to 0.37, median 0.18).
COPY_DISTANCE = 0.04
COPY_QUANTILE = 0.01  # copy_distance_for: the share of new real images counted as copies


def make_classifier():
    """The digit classifier: float ``(batch, 28, 28, 1)`` in [0, 1] → 10 logits.

    Returns:
        :func:`tfimagegen.features.make_classifier` at 28×28×1, a
        ``keras.Sequential`` named ``"digit_classifier"`` whose layer
        ``"features"`` (128 units, ReLU) is the feature space for FD, KID and
        precision/recall.
    """
    return features.make_classifier()


def train_classifier(seed: int = CLASSIFIER_SEED, epochs: int = CLASSIFIER_EPOCHS,
                     verbose: int = 0):
    """Train :func:`make_classifier` on the 4,000 embedded training digits.

    It is the scorer, not a generator: it sees the validation digits too
    (``data.load_mnist("validation")`` is carved from the same 4,000), never
    the test digits.

    Small random shifts, rotations and zooms stand in for the 56,000 digits the
    embedded set lacks. Same seed, same machine: bitwise-identical weights.

    Returns:
        ``(model, test_accuracy)`` with the accuracy on the embedded test split.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x_train, y_train = data.embedded_split("train")
    x_test, y_test = data.embedded_split("test")
    model = make_classifier()
    augment = keras.Sequential([
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
        layers.RandomRotation(0.04, fill_mode="constant", seed=seed),
        layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
    ], name="augment")
    features.fit_classifier(model, augment, x_train, y_train, seed=seed, epochs=epochs,
                            verbose=verbose)
    logits = model.predict(data.scale_images(x_test, "unit"), batch_size=500, verbose=0)
    return model, float(np.mean(logits.argmax(-1) == y_test))


@functools.lru_cache(maxsize=1)
def load_classifier():
    """The shipped classifier, loaded once per process (no network)."""
    model = make_classifier()
    model.load_weights(WEIGHTS_PATH)
    return model


def features_and_probs(images, value_range=None, space: features.FeatureSpace | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features and class probabilities of images.

    Args:
        images: ``(N, 28, 28)`` or ``(N, 28, 28, 1)`` digits, or images of
            ``space.image_shape``; uint8 [0, 255], float [0, 1] or float [-1, 1]
            (see :func:`tfimagegen.data.to_unit_images`).
        value_range: state the encoding instead of detecting it.
        space: the feature space (default :data:`tfimagegen.features.DIGITS`).

    Returns:
        ``(features, probs)``: float64 ``(N, 128)`` and float64 ``(N, K)``.
    """
    space = space or features.DIGITS
    x = data.to_unit_images(images, value_range, shape=space.image_shape)
    return features.features_and_probs(x, space)


def _feature_sets(features_a, features_b) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 ``(N, d)`` feature sets with the same ``d`` and at least 2 rows each."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    for name, x in (("features_a", a), ("features_b", b)):
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"{name} must be (N, d) with N >= 2 (a covariance needs two rows), "
                             f"got shape {x.shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a and features_b must have the same width, got "
                         f"{a.shape[1]} and {b.shape[1]}")
    return a, b


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two ``(N, d)`` feature sets.

    ``FD = |mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; 0 for identical
    statistics. Depends on N: compare only values computed with the same N.

    ``tr((S_a S_b)^(1/2))`` is computed as the sum of square roots of the
    eigenvalues of the symmetric matrix ``S_a^(1/2) S_b S_a^(1/2)`` (same
    eigenvalues), which stays stable when a covariance is singular, as it is
    when some ReLU features never fire.
    """
    a, b = _feature_sets(features_a, features_b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = linalg.eigh(cov_a)
    sqrt_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_covmean = np.sum(np.sqrt(np.clip(middle, 0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * trace_covmean)


def kernel_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (KID).

    Unbiased, so it can be slightly negative when the two sets match, and its
    expected value does not depend on N.
    """
    a, b = _feature_sets(features_a, features_b)
    d = a.shape[1]
    k_aa = (a @ a.T / d + 1) ** 3
    k_bb = (b @ b.T / d + 1) ** 3
    k_ab = (a @ b.T / d + 1) ** 3
    m, n = len(a), len(b)
    return float((k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
                 + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
                 - 2 * k_ab.mean())


def class_score(probs: np.ndarray) -> float:
    """``exp(E_x[KL(p(y|x) || p(y))])`` from ``(N, K)`` class probabilities; 1 to K."""
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def precision_recall(real_features: np.ndarray, fake_features: np.ndarray,
                     k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019).

    Each real feature gets a ball reaching its k-th nearest real neighbour;
    precision is the fraction of fake features inside at least one real ball.
    Recall swaps the roles. Both lie in [0, 1]; 1 is best.
    """
    real, fake = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)

    def coverage(manifold: np.ndarray, queries: np.ndarray) -> float:
        radius = np.sort(distance.cdist(manifold, manifold), axis=1)[:, k]  # [:, 0] is itself
        return float(np.mean((distance.cdist(queries, manifold) <= radius).any(axis=1)))

    return coverage(real, fake), coverage(fake, real)


def _check_labels(labels, count: int, space: features.FeatureSpace | None = None
                  ) -> np.ndarray:
    """``labels`` as ``count`` integer classes of ``space`` (default digits), or a clear error."""
    space = space or features.DIGITS
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ValueError(f"labels must have shape ({count},), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (the class each image shows), got dtype "
                        f"{labels.dtype}")
    if count and (labels.min() < 0 or labels.max() >= space.num_classes):
        what = "digits" if space == features.DIGITS else f"classes of {space.name}"
        raise ValueError(f"labels must be {what} in [0, {space.num_classes}), got "
                         f"{labels.min()} to {labels.max()}")
    return labels


def label_accuracy(images, labels, value_range=None,
                   space: features.FeatureSpace | None = None) -> float:
    """Fraction of images the classifier assigns to their intended ``labels``."""
    labels = np.asarray(labels)
    _, probs = features_and_probs(images, value_range, space)
    labels = _check_labels(labels, len(probs), space)
    return float(np.mean(probs.argmax(-1) == labels))


def nearest_training(images, training, value_range=None, batch_size: int = 256
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Each image's nearest training image, by root-mean-square pixel difference.

    Args:
        images: ``(N, H, W[, C])`` in any encoding of :func:`evaluate`.
        training: ``(M, H, W[, C])`` the images a generator learnt from, of the same shape.
        value_range: state the encoding of ``images`` instead of detecting it.
        batch_size: images compared at a time (memory: a few ``batch_size * M``
            float32 arrays, 60 MB each for 256 images against 59,000 digits).

    Returns:
        ``(index, distance)``: int64 ``(N,)`` rows of ``training`` and float64
        ``(N,)`` distances ``sqrt(mean((a - b)**2))`` on the [0, 1] scale. For
        digits: 0 is the same picture, 0.04 a faint blur of it, about 0.18 a
        different digit of the same class. Pixels do not see shifts: a copy
        moved by one pixel is as far as a new image.
    """
    x = data.to_unit_images(images, value_range, name="images")
    ref = data.to_unit_images(training, name="training", shape=x.shape[1:])
    x, ref = x.reshape(len(x), -1), ref.reshape(len(ref), -1)
    ref_sq = np.sum(ref**2, axis=1)
    index = np.empty(len(x), np.int64)
    for start in range(0, len(x), batch_size):  # |a|² + |b|² - 2 a·b, in float32, to find b
        part = x[start:start + batch_size]
        d2 = np.sum(part**2, axis=1)[:, None] + ref_sq[None] - 2 * part @ ref.T
        index[start:start + batch_size] = d2.argmin(axis=1)
    diff = x.astype(np.float64) - ref[index]  # then the distance itself, without cancellation
    return index, np.sqrt(np.mean(diff**2, axis=1))


def _check_distance(distance: object) -> float:
    if isinstance(distance, bool) or not (isinstance(distance, numbers.Real)
                                          and 0 <= distance <= 1):
        raise ValueError(f"distance must be a number in [0, 1] (RMS pixel difference on the "
                         f"[0, 1] scale), got {distance!r}")
    return float(distance)


def copy_share(images, training, distance: float = COPY_DISTANCE, value_range=None) -> float:
    """Fraction of ``images`` within ``distance`` (RMS pixels, [0, 1] scale) of a training image."""
    distance = _check_distance(distance)
    return float(np.mean(nearest_training(images, training, value_range)[1] <= distance))


def copy_distance_for(reference, training, seed: int = 0) -> float:
    """A copy distance calibrated on real data, as :data:`COPY_DISTANCE` was for digits.

    Real held-out images are new by construction, so the distance from each
    to its nearest training image shows how close *new* images come. The
    calibrated distance is the :data:`COPY_QUANTILE` quantile of those
    distances (over at most 1,000 reference images, seeded): at most 1 % of
    genuinely new images would be counted as copies.

    Args:
        reference: held-out real images (a test split), any encoding.
        training: the training split, of the same shape.
    """
    x = data.to_unit_images(reference, name="reference")
    if len(x) > EVAL_SAMPLES:
        x = _subsample(x, EVAL_SAMPLES, seed, "reference")
    return float(np.quantile(nearest_training(x, training, (0, 1))[1], COPY_QUANTILE))


def _subsample(x: np.ndarray, n: int, seed: int, name: str) -> np.ndarray:
    if len(x) < n:
        raise ValueError(f"{name} must hold at least {n} images (FD depends on the count), "
                         f"got {len(x)}")
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def evaluate(images, reference=None, labels=None, *, num_samples: int | None = None,
             value_range=None, seed: int = 0, training=None,
             copy_distance: float | None = None, space: features.FeatureSpace | None = None,
             floors: bool = False) -> dict[str, float | None]:
    """All the scores for a set of generated images, on one sample count N.

    Args:
        images: generated images of ``space.image_shape`` (digits:
            ``(N, 28, 28[, 1])``), uint8 [0, 255], float [0, 1] or float [-1, 1].
        reference: real images to compare with. For digits the default is the
            test split of the digits :func:`tfimagegen.data.load_mnist` gives
            (the 1,000 embedded test digits offline, MNIST's official 10,000
            when Keras has them), so a model is never scored against digits it
            trained on; any other space needs its source's test split here.
        labels: the intended class of each image (conditional models).
        num_samples: N, the images drawn (seeded, without replacement) from
            each side; default the smaller of the two sets.
        value_range: state the encoding of ``images`` instead of detecting it.
        seed: for the subsampling.
        training: the images the generator learnt from, for ``"copies"`` and the
            floors; for digits the default is the training split of
            :func:`tfimagegen.data.load_mnist`.
        copy_distance: see :func:`copy_share`; default :data:`COPY_DISTANCE` for
            digits, :func:`copy_distance_for` the reference and training
            images in any other space.
        space: the feature space (:mod:`tfimagegen.features`; default digits).
        floors: also the model-free SWD (:mod:`tfimagegen.swd`), and for FD and
            SWD the floor: ``N`` training images against the same reference,
            what a generator that draws its training distribution would score.

    Returns:
        ``{"fd", "kid", "precision", "recall", "copies"}``, ``"class_score"``
        when the space's classes are the data's, and with ``labels``,
        ``"label_accuracy"``. ``copies`` is the share of the scored samples
        within ``copy_distance`` of a training image (:func:`copy_share`): near
        0 for a generator that makes new images, 1 for one that replays its
        training set, whose other scores look fine. With ``floors``, also
        ``"n"``, ``"fd_floor"``, ``"swd"``, ``"swd_floor"`` and
        ``"copy_distance"``; the floors are ``None`` when ``training`` holds
        fewer than N images.

    Raises:
        ValueError: fewer than ``num_samples`` images, ``num_samples`` below
            :data:`MIN_SAMPLES`, bad shapes or values, labels that are not
            classes of the space, no reference or training images for a space
            other than digits.
        TypeError: labels that are not integers.
    """
    space = space or features.DIGITS
    if space == features.DIGITS:
        reference = data.load_mnist("test")[0] if reference is None else reference
        training = data.load_mnist("train")[0] if training is None else training
        copy_distance = COPY_DISTANCE if copy_distance is None else copy_distance
    elif reference is None or training is None:
        raise ValueError(f"scoring in the {space.name} feature space needs reference= (the "
                         "source's test split) and training= (its training split)")
    x = data.to_unit_images(images, value_range, "images", space.image_shape)
    ref = data.to_unit_images(reference, name="reference", shape=space.image_shape)
    train = data.to_unit_images(training, name="training", shape=space.image_shape)
    if num_samples is None:
        num_samples = min(len(x), len(ref))
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or num_samples < MIN_SAMPLES:
        raise ValueError(f"num_samples must be an int >= {MIN_SAMPLES}, got {num_samples!r}")
    if copy_distance is None:
        copy_distance = copy_distance_for(ref, train, seed)
    if labels is not None:
        labels = _check_labels(labels, len(x), space)
        labels = _subsample(labels, num_samples, seed, "labels")
    x = _subsample(x, num_samples, seed, "images")
    ref = _subsample(ref, num_samples, seed + 1, "reference")
    copies = copy_share(x, train, copy_distance, (0, 1))
    fake_feats, fake_probs = features_and_probs(x, (0, 1), space)
    real_feats, _ = features_and_probs(ref, (0, 1), space)
    precision, recall = precision_recall(real_feats, fake_feats)
    scores = {"fd": frechet_distance(real_feats, fake_feats),
              "kid": kernel_distance(real_feats, fake_feats)}
    if space.labelled:
        scores["class_score"] = class_score(fake_probs)
    scores.update(precision=precision, recall=recall, copies=copies)
    if labels is not None and space.labelled:
        scores["label_accuracy"] = float(np.mean(fake_probs.argmax(-1) == labels))
    if floors:
        scores.update(n=int(num_samples), fd_floor=None, swd=None, swd_floor=None,
                      copy_distance=float(copy_distance))
        if len(train) < num_samples:  # a floor at another N is not this N's floor
            scores["swd"] = swd.swd(ref, x, seed=seed)[0]["swd"]
        else:
            floor = _subsample(train, num_samples, seed + 2, "training")
            floor_feats, _ = features_and_probs(floor, (0, 1), space)
            generated, real = swd.swd(ref, x, floor, seed=seed)  # the reference's work once
            scores.update(fd_floor=frechet_distance(real_feats, floor_feats),
                          swd=generated["swd"], swd_floor=real["swd"])
    return scores
