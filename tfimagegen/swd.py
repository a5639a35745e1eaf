"""A score that needs no trained network: sliced Wasserstein distance on image patches.

Karras et al. 2018 (ProGAN, arXiv:1710.10196, section 5 and appendix D)
compare generated and real images patch by patch, at every scale:

1. Build each image's Laplacian pyramid (:func:`laplacian_pyramid`): the
   finest level holds the edges, the coarsest a blurred 16-px thumbnail.
2. Cut :data:`PATCHES_PER_IMAGE` random 7×7 patches from every level of every
   image (:func:`patches`); each patch, flattened, is one descriptor.
3. Per level, the two descriptor sets are two point clouds. Project both on
   random unit directions; in one dimension the Wasserstein-1 distance is the
   mean gap between the two sorted lists (:func:`sorted_projections`).

The result is reported in thousandths, as ProGAN's tables do. Two sets of real
images of the same N do not score 0: :func:`tfimagegen.metrics.evaluate`
prints that *floor* beside it.

One change from ProGAN: ProGAN normalises each descriptor set by its own
per-channel mean and standard deviation, which hides a colour cast or a washed
out contrast. Here both sets are normalised by the *reference's* statistics,
so a wrong colour costs SWD as it costs the eye.

Images are float ``(N, H, W, C)`` in [0, 1] (any square side, 1 or 3 channels).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["PATCH", "PATCHES_PER_IMAGE", "COARSEST", "laplacian_pyramid", "patches",
           "sorted_projections", "swd"]

PATCH = 7  # pixels per side of a descriptor, as in ProGAN
PATCHES_PER_IMAGE = 64  # ProGAN takes 128 from 16,384 images; ours sees ~1,000 images
COARSEST = 16  # the pyramid stops at the first level no larger than this many pixels
DIRECTIONS = 4 * 64  # ProGAN: 4 repeats of 128 random directions
_KERNEL = np.array([1, 4, 6, 4, 1], np.float32) / 16  # ProGAN's binomial low-pass filter


def _blur(x: np.ndarray) -> np.ndarray:
    for axis in (1, 2):  # separable 5x5 filter over (H, W) of (N, H, W, C)
        x = ndimage.convolve1d(x, _KERNEL, axis=axis, mode="mirror")  # keeps 0s between samples
    return x


def laplacian_pyramid(images: np.ndarray) -> list[np.ndarray]:
    """float32 levels of each image, finest first, each half the side of the one before.

    Every level but the last is a band (the image minus its blurred, upsampled
    half-size version); the last, the first one no larger than
    :data:`COARSEST` pixels, is the blurred image itself. 32 px gives levels of
    32 and 16 px, 28 px gives 28 and 14, 64 px gives 64, 32 and 16.
    """
    level = np.asarray(images, np.float32)
    levels = []
    while level.shape[1] > COARSEST:
        smaller = _blur(level)[:, ::2, ::2]
        up = np.zeros_like(level)
        up[:, ::2, ::2] = smaller
        levels.append(level - 4 * _blur(up))  # 4: only one pixel in four was filled
        level = smaller
    return [*levels, level]


def patches(level: np.ndarray, per_image: int, rng: np.random.Generator) -> np.ndarray:
    """float32 ``(N * per_image, PATCH * PATCH * C)``: random 7×7 patches of each image."""
    n, h, w, _ = level.shape
    top = rng.integers(0, h - PATCH + 1, (n, per_image))
    left = rng.integers(0, w - PATCH + 1, (n, per_image))
    offsets = np.arange(PATCH)
    rows = (top[..., None] + offsets)[..., :, None]  # (n, per_image, 7, 1)
    cols = (left[..., None] + offsets)[..., None, :]  # (n, per_image, 1, 7)
    picked = level[np.arange(n)[:, None, None, None], rows, cols]  # (n, per_image, 7, 7, C)
    return picked.reshape(n * per_image, -1)


def sorted_projections(descriptors: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``(M, k)``: descriptors ``(M, d)`` projected on unit columns ``(d, k)``, each column
    sorted. Between two sorted columns of one length, the mean absolute gap is the 1-D
    Wasserstein-1 distance; its mean over the columns is the sliced one."""
    return np.sort(descriptors @ directions, axis=0)


def swd(reference: np.ndarray, *others: np.ndarray, seed: int = 0
        ) -> list[dict[str, float | list[float]]]:
    """SWD of each of ``others`` to ``reference``, per pyramid level and their mean.

    Args:
        reference: float ``(N, S, S, C)`` in [0, 1], the real images.
        others: image sets of the same shape and the same ``N`` (SWD, like FD,
            depends on how many descriptors it sees).
        seed: patch positions and projection directions; the same for every
            set, so the values are comparable.

    Returns:
        One ``{"swd": mean, "levels": [finest, ..., coarsest]}`` per set of
        ``others``, in thousandths.

    Raises:
        ValueError: sets of another shape or count, or images under 16 px.
    """
    reference = np.asarray(reference, np.float32)
    if reference.ndim != 4 or reference.shape[1] < COARSEST:
        raise ValueError(f"reference must be (N, S, S, C) images with S >= {COARSEST}, got "
                         f"shape {reference.shape}")
    for i, other in enumerate(others):
        if np.shape(other) != reference.shape:
            raise ValueError(f"image set {i + 1} must have the reference's shape "
                             f"{reference.shape} (SWD depends on N), got {np.shape(other)}")
    rng = np.random.default_rng(seed)
    results = [[] for _ in others]
    pyramids = [laplacian_pyramid(x) for x in others]
    for index, level in enumerate(laplacian_pyramid(reference)):
        level_seed = rng.integers(2**32)
        real = patches(level, PATCHES_PER_IMAGE, np.random.default_rng(level_seed))
        channels = level.shape[-1]
        by_channel = real.reshape(len(real), -1, channels)
        mean, std = by_channel.mean((0, 1)), by_channel.std((0, 1)) + 1e-8

        def normalise(x: np.ndarray, mean=mean, std=std, channels=channels) -> np.ndarray:
            return ((x.reshape(len(x), -1, channels) - mean) / std).reshape(len(x), -1)

        directions = rng.standard_normal((real.shape[1], DIRECTIONS)).astype(np.float32)
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        real = sorted_projections(normalise(real), directions)
        for result, pyramid in zip(results, pyramids, strict=True):
            fake = patches(pyramid[index], PATCHES_PER_IMAGE, np.random.default_rng(level_seed))
            fake = sorted_projections(normalise(fake), directions)
            result.append(1e3 * float(np.mean(np.abs(real - fake))))
    return [{"swd": float(np.mean(levels)), "levels": levels} for levels in results]
