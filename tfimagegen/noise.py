"""Noise images and noisy images with ``tf.random``.

Taught in ``notebooks/01_noise_images.ipynb``.

Two families of functions live here:

* noise *images* made from nothing but random numbers: :func:`gaussian`,
  :func:`uniform` and the smooth multi-octave :func:`fractal` textures;
* noise *added to* images: :func:`add_gaussian`, :func:`add_uniform`,
  :func:`salt_and_pepper` and :func:`poisson` (shot noise).

Image convention for the second family: a numpy array or a ``tf.Tensor`` of
rank 2 ``(height, width)``, 3 ``(height, width, channels)`` or 4
``(batch, height, width, channels)``, either ``uint8`` in [0, 255] or floating
point in [0, 1]. The result has the input's type (numpy in, numpy out), shape
and dtype, and stays in range when ``clip=True``.

Seeds: every function uses the *stateless* ``tf.random.stateless_*`` ops. An
``int`` seed gives the same noise on every call, in every process, with the
same TensorFlow version (the ops' algorithms may change between versions).
``seed=None`` draws a fresh seed with a stateful op (``tf.random.uniform``), so
successive calls differ; after ``keras.utils.set_random_seed(s)``, which sets
TensorFlow's global seed, the sequence of such draws repeats in a fresh process.
(``tf.random.get_global_generator()`` would not: it starts from OS entropy,
whatever the global seed.)
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import tensorflow as tf

__all__ = [
    "gaussian",
    "uniform",
    "fractal",
    "add_gaussian",
    "add_uniform",
    "salt_and_pepper",
    "poisson",
]


# --------------------------------------------------------------------------
# Argument checks shared by every public function.
# --------------------------------------------------------------------------
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_PEAK = 1e8  # Poisson: a white pixel's noise std is then 1e-4, far below one grey level
MAX_SEED = 2**63  # seeds are int64 for the stateless ops


def _check_number(name: str, value: object, *, minimum: float | None = None,
                  maximum: float | None = None, strictly_positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if abs(value) > FLOAT32_MAX:  # the noise is computed in float32: inf, then NaN
        raise ValueError(f"{name} must be at most {FLOAT32_MAX:.3g} in size (float32), "
                         f"got {value:g}")
    if strictly_positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value:g}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {value:g}")
    return value


def _check_seed(seed: object) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed}")
    return int(seed)


def _check_shape(shape: object) -> tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"shape must be a tuple of ints like (64, 64, 3), got {shape!r}")
    dims = tuple(shape)
    if not 2 <= len(dims) <= 4:
        raise ValueError(
            "shape must have 2 (H, W), 3 (H, W, C) or 4 (N, H, W, C) dimensions, "
            f"got {len(dims)}: {dims}"
        )
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise ValueError(f"shape must contain positive ints, got {dims}")
    return tuple(int(d) for d in dims)


def _stateless_seed(seed: int | None, stream: int = 0) -> tf.Tensor:
    """A shape-(2,) seed for ``tf.random.stateless_*``.

    An ``int`` seed is combined with ``stream`` (separate draws of one call get
    separate streams); ``None`` draws a fresh seed with a stateful op, which
    repeats after ``tf.random.set_seed`` (``keras.utils.set_random_seed``).
    """
    if seed is None:
        return tf.random.uniform([2], 0, tf.int64.max, dtype=tf.int64)
    return tf.constant([seed, stream], dtype=tf.int64)


def _as_unit_float(images: object) -> tuple[tf.Tensor, tf.DType, bool]:
    """Check an image batch and return it as float in [0, 1].

    Returns ``(x, dtype, was_numpy)``: ``x`` is a float tensor (float32, or the
    input's own float dtype), ``dtype`` the input's dtype, ``was_numpy`` whether
    to hand back a numpy array.
    """
    if isinstance(images, (str, bytes)):
        raise TypeError(
            "images must be a numpy array or tf.Tensor of pixels, got a string; "
            "load files with tfimagegen.images.load_image(path)"
        )
    was_numpy = not isinstance(images, tf.Tensor)
    if was_numpy:
        try:
            images = np.asarray(images)
        except (ValueError, TypeError) as err:
            raise TypeError(f"images must be array-like, got {type(images).__name__}") from err
        if images.dtype.kind not in "uif":
            raise TypeError(
                f"images must be uint8 in [0, 255] or float in [0, 1], got dtype {images.dtype}"
            )
    dtype = tf.as_dtype(images.dtype)
    if dtype != tf.uint8 and not dtype.is_floating:
        raise TypeError(
            f"images must be uint8 in [0, 255] or float in [0, 1], got dtype {dtype.name}"
        )
    rank = len(images.shape)
    if not 2 <= rank <= 4:
        raise ValueError(
            "images must have rank 2 (H, W), 3 (H, W, C) or 4 (N, H, W, C), "
            f"got rank {rank} with shape {tuple(images.shape)}"
        )
    if 0 in tuple(images.shape):
        raise ValueError(f"images must hold at least one pixel, got shape {tuple(images.shape)}")
    if dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0, dtype, was_numpy
    # One pass each for min and max; NaN propagates through numpy's min/max, and
    # a sum of values in [0, 1] is finite unless a NaN hides from TF's min/max.
    if was_numpy:
        lo, hi, total = float(np.min(images)), float(np.max(images)), 0.0
    else:
        lo, hi, total = (float(v) for v in _range_stats(images))
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(total)):
        raise ValueError("images contain NaN or inf pixels")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"float images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
            "rescale first, e.g. (x + 1) / 2 for [-1, 1] or x / 255 for [0, 255]"
        )
    return tf.convert_to_tensor(images), dtype, was_numpy


@tf.function(reduce_retracing=True)
def _range_stats(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    return tf.reduce_min(x), tf.reduce_max(x), tf.reduce_sum(tf.cast(x, tf.float32))


@tf.function(reduce_retracing=True)
def _to_dtype(x: tf.Tensor, dtype: tf.DType, clip: bool) -> tf.Tensor:
    if clip or dtype == tf.uint8:  # uint8 cannot hold values outside [0, 255]
        x = tf.clip_by_value(x, 0.0, 1.0)
    if dtype == tf.uint8:
        return tf.cast(tf.round(x * 255.0), tf.uint8)
    return tf.cast(x, dtype)


def _restore(x: tf.Tensor, dtype: tf.DType, was_numpy: bool, clip: bool) -> np.ndarray | tf.Tensor:
    """Undo :func:`_as_unit_float`: clip, convert back to ``dtype`` and container."""
    x = _to_dtype(x, dtype, clip)
    return x.numpy() if was_numpy else x


# --------------------------------------------------------------------------
# Noise images.
# --------------------------------------------------------------------------
def gaussian(shape: tuple[int, ...], mean: float = 0.0, stddev: float = 1.0,
             seed: int | None = None) -> tf.Tensor:
    """Gaussian noise image, every pixel drawn from N(mean, stddev²).

    Args:
        shape: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``.
        mean: mean of the distribution.
        stddev: standard deviation, ``>= 0``.
        seed: ``int`` in [0, 2**63) for reproducible (stateless) noise, ``None``
            for a fresh seed (see the module docstring).

    Returns:
        float32 tensor of ``shape``; values are unbounded (not clipped).

    Raises:
        ValueError: bad shape, negative or non-finite ``stddev``.
        TypeError: a non-numeric argument.
    """
    shape = _check_shape(shape)
    mean = _check_number("mean", mean)
    stddev = _check_number("stddev", stddev, minimum=0.0)
    seed = _check_seed(seed)
    return tf.random.stateless_normal(shape, _stateless_seed(seed), mean, stddev)


def uniform(shape: tuple[int, ...], minval: float = 0.0, maxval: float = 1.0,
            seed: int | None = None) -> tf.Tensor:
    """Uniform noise image, every pixel drawn from U(minval, maxval).

    The standard deviation of U(a, b) is (b − a)/√12; for U(−a, a) that is a/√3,
    *not* a.

    Args:
        shape: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``.
        minval: lower bound (inclusive).
        maxval: upper bound (exclusive), ``> minval``.
        seed: ``int`` for reproducible noise, ``None`` for a fresh seed (see the module docstring).

    Returns:
        float32 tensor of ``shape`` with values in [minval, maxval).

    Raises:
        ValueError: bad shape, or ``maxval <= minval``.
        TypeError: a non-numeric argument.
    """
    shape = _check_shape(shape)
    minval = _check_number("minval", minval)
    maxval = _check_number("maxval", maxval)
    if maxval <= minval:
        raise ValueError(f"maxval must be > minval, got minval={minval}, maxval={maxval}")
    seed = _check_seed(seed)
    return tf.random.stateless_uniform(shape, _stateless_seed(seed), minval, maxval)


def fractal(shape: tuple[int, ...], octaves: int = 5, persistence: float = 0.5,
            seed: int | None = None, tileable: bool = False) -> tf.Tensor:
    """Smooth multi-octave value noise ("fractal" or "cloud" noise) in [0, 1].

    Octave ``o`` is a grid of ``2**(o + 1) + 1`` uniform random values per side,
    upsampled bicubically to the image size and weighted by ``persistence**o``:
    coarse octaves give large blobs, fine octaves add detail. The sum is rescaled
    to [0, 1] per image and channel.

    With ``tileable=True`` each grid has ``2**(o + 1)`` values per side and wraps
    around: the interpolation past the right edge reads the left column, and
    past the bottom the top row. The texture is then one period of a periodic
    pattern, so copies laid side by side (a game's floor or sky) show no seam.

    Args:
        shape: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``.
        octaves: number of octaves, 1 to 10.
        persistence: amplitude ratio between successive octaves, in (0, 1].
            Smaller is smoother.
        seed: ``int`` for a reproducible texture, ``None`` for a fresh seed (see the
            module docstring).
        tileable: make opposite edges continue each other.

    Returns:
        float32 tensor of ``shape`` with values in [0, 1].

    Raises:
        ValueError: bad shape, ``octaves`` outside 1..10, ``persistence`` outside (0, 1].
        TypeError: a non-numeric argument.
    """
    shape = _check_shape(shape)
    if isinstance(octaves, bool) or not isinstance(octaves, numbers.Integral):
        raise TypeError(f"octaves must be an int, got {type(octaves).__name__} {octaves!r}")
    if not 1 <= octaves <= 10:
        raise ValueError(f"octaves must be in 1..10, got {octaves}")
    persistence = _check_number("persistence", persistence, maximum=1.0, strictly_positive=True)
    seed = _check_seed(seed)
    if not isinstance(tileable, (bool, np.bool_)):
        raise TypeError(f"tileable must be True or False, got {type(tileable).__name__} "
                        f"{tileable!r}")

    batch_shape = {2: (1, *shape, 1), 3: (1, *shape), 4: shape}[len(shape)]
    n, height, width, channels = batch_shape
    total = tf.zeros(batch_shape, tf.float32)
    for octave in range(int(octaves)):
        cells = 2 ** (octave + 1) + (0 if tileable else 1)
        grid_shape = (n, cells, cells, channels)
        grid = tf.random.stateless_uniform(grid_shape, _stateless_seed(seed, octave))
        if tileable:
            layer = tf.einsum("hi,nijc,wj->nhwc", _periodic_bicubic(cells, height), grid,
                              _periodic_bicubic(cells, width))
        else:
            layer = tf.image.resize(grid, (height, width), method="bicubic")
        total += persistence**octave * layer
    lo = tf.reduce_min(total, axis=(1, 2), keepdims=True)
    hi = tf.reduce_max(total, axis=(1, 2), keepdims=True)
    total = (total - lo) / tf.maximum(hi - lo, 1e-12)
    return tf.reshape(total, shape)


def _periodic_bicubic(cells: int, size: int) -> tf.Tensor:
    """float32 ``(size, cells)``: bicubic weights that resample a wrapping grid to ``size``.

    Row ``i`` interpolates pixel centre ``i`` at grid position ``(i + 0.5) * cells / size -
    0.5`` (as ``tf.image.resize`` does) from the 4 nearest grid values, indices taken
    modulo ``cells``, with Keys' cubic kernel (a = -0.5).
    """
    position = (np.arange(size) + 0.5) * cells / size - 0.5
    left = np.floor(position).astype(np.int64)
    weights = np.zeros((size, cells))
    for offset in range(-1, 3):
        t = np.abs(position - (left + offset))
        kernel = np.where(t <= 1, 1.5 * t**3 - 2.5 * t**2 + 1,
                          -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2)
        np.add.at(weights, (np.arange(size), (left + offset) % cells), kernel)
    return tf.constant(weights, tf.float32)


# --------------------------------------------------------------------------
# Noise added to images.
# --------------------------------------------------------------------------
def add_gaussian(images, stddev: float = 0.1, seed: int | None = None,
                 clip: bool = True):
    """Add zero-mean Gaussian noise N(0, stddev²) to every pixel value.

    ``stddev`` is in units of the full range: 0.1 means 10 % of [0, 1], i.e.
    25.5 grey levels for ``uint8`` images.

    Args:
        images: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``; uint8 in [0, 255]
            or float in [0, 1]; numpy array or tensor.
        stddev: noise standard deviation, ``>= 0``.
        seed: ``int`` for reproducible noise, ``None`` for a fresh seed (see the module docstring).
        clip: clip the result to the valid range (always done for uint8).

    Returns:
        Noisy images, same type, shape and dtype as ``images``.

    Raises:
        ValueError: negative ``stddev``, bad rank, NaN/inf pixels, floats outside [0, 1].
        TypeError: strings, non-image dtypes, non-numeric arguments.

    Example:
        >>> noisy = add_gaussian(np.full((4, 4), 128, np.uint8), stddev=0.1, seed=0)
    """
    stddev = _check_number("stddev", stddev, minimum=0.0)
    seed = _check_seed(seed)
    x, dtype, was_numpy = _as_unit_float(images)
    stddev = tf.constant(stddev, x.dtype)  # a tensor, so new values do not retrace
    return _restore(_plus_gaussian(x, stddev, _stateless_seed(seed)), dtype, was_numpy, clip)


@tf.function(reduce_retracing=True)
def _plus_gaussian(x: tf.Tensor, stddev: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """``x + stddev * N(0, 1)``, traced once so TensorFlow runs it as one graph."""
    return x + stddev * tf.random.stateless_normal(tf.shape(x), seed, dtype=x.dtype)


def add_uniform(images, amount: float = 0.1, seed: int | None = None,
                clip: bool = True):
    """Add uniform noise U(−amount, amount) to every pixel value.

    ``amount`` is the *half-width* of the interval, not a standard deviation:
    the noise's standard deviation is ``amount / sqrt(3)``.

    Args:
        images: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``; uint8 in [0, 255]
            or float in [0, 1]; numpy array or tensor.
        amount: half-width of the noise interval, ``>= 0``.
        seed: ``int`` for reproducible noise, ``None`` for a fresh seed (see the module docstring).
        clip: clip the result to the valid range (always done for uint8).

    Returns:
        Noisy images, same type, shape and dtype as ``images``.

    Raises:
        ValueError: negative ``amount``, bad rank, NaN/inf pixels, floats outside [0, 1].
        TypeError: strings, non-image dtypes, non-numeric arguments.
    """
    amount = _check_number("amount", amount, minimum=0.0)
    seed = _check_seed(seed)
    x, dtype, was_numpy = _as_unit_float(images)
    amount = tf.constant(amount, x.dtype)  # a tensor, so new values do not retrace
    return _restore(_plus_uniform(x, amount, _stateless_seed(seed)), dtype, was_numpy, clip)


@tf.function(reduce_retracing=True)
def _plus_uniform(x: tf.Tensor, amount: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """``x + U(-amount, amount)``, traced once so TensorFlow runs it as one graph."""
    return x + tf.random.stateless_uniform(tf.shape(x), seed, -amount, amount, dtype=x.dtype)


def salt_and_pepper(images, amount: float = 0.05, seed: int | None = None):
    """Set a fraction ``amount`` of pixels to black or white, half each.

    A pixel is hit as a whole: in a colour image all its channels turn black
    (pepper) or white (salt) together, as with dead or stuck sensor pixels.

    Args:
        images: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``; uint8 in [0, 255]
            or float in [0, 1]; numpy array or tensor.
        amount: expected fraction of pixels replaced, in [0, 1].
        seed: ``int`` for reproducible noise, ``None`` for a fresh seed (see the module docstring).

    Returns:
        Noisy images, same type, shape and dtype as ``images``.

    Raises:
        ValueError: ``amount`` outside [0, 1], bad rank, NaN/inf pixels, floats outside [0, 1].
        TypeError: strings, non-image dtypes, non-numeric arguments.
    """
    amount = _check_number("amount", amount, minimum=0.0, maximum=1.0)
    seed = _check_seed(seed)
    x, dtype, was_numpy = _as_unit_float(images)
    shape = tf.shape(x)
    if len(x.shape) >= 3:  # one draw per pixel, shared by its channels
        shape = tf.concat([shape[:-1], [1]], axis=0)
    u = tf.random.stateless_uniform(shape, _stateless_seed(seed), dtype=x.dtype)
    pepper = u < amount / 2
    salt = (u >= amount / 2) & (u < amount)
    x = tf.where(pepper, tf.zeros_like(x), x)
    x = tf.where(salt, tf.ones_like(x), x)
    return _restore(x, dtype, was_numpy, clip=True)


def poisson(images, peak: float = 30.0, seed: int | None = None):
    """Shot noise: count photons with a Poisson distribution.

    A pixel of value ``v`` in [0, 1] receives ``k ~ Poisson(v * peak)`` photons
    and becomes ``k / peak``. The noise is signal dependent: its standard
    deviation is ``sqrt(v / peak)``, so dark regions stay clean and bright ones
    get noisy; a smaller ``peak`` (less light) is noisier.

    Args:
        images: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``; uint8 in [0, 255]
            or float in [0, 1]; numpy array or tensor.
        peak: expected photon count of a white pixel, ``> 0``.
        seed: ``int`` for reproducible noise, ``None`` for a fresh seed (see the module docstring).

    Returns:
        Noisy images, same type, shape and dtype as ``images``, clipped to range.

    Raises:
        ValueError: ``peak <= 0`` or above :data:`MAX_PEAK`, bad rank, no pixels,
            NaN/inf pixels, floats outside [0, 1].
        TypeError: strings, non-image dtypes, non-numeric arguments.
    """
    peak = _check_number("peak", peak, strictly_positive=True, maximum=MAX_PEAK)
    seed = _check_seed(seed)
    x, dtype, was_numpy = _as_unit_float(images)
    lam = tf.cast(x, tf.float32) * peak
    counts = tf.random.stateless_poisson(tf.shape(lam), _stateless_seed(seed), lam,
                                         dtype=tf.float32)
    return _restore(tf.cast(counts / peak, x.dtype), dtype, was_numpy, clip=True)
