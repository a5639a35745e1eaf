"""Game textures learnt from one photo: a flow on its crops, sampled on a torus so it tiles.

A game floor repeats one square texture; it shows no seam only if the
texture's right edge continues into its left edge and its bottom into its
top. Lesson 05 got that from noise (``noise.fractal(..., tileable=True)``).
Here a flow-matching model (:mod:`tfimagegen.diffusion`) *learns* a texture
from random crops of one grey photo of scikit-image (``brick``, ``grass``,
``gravel``), with a fully convolutional velocity network whose every 3×3
convolution wraps around (:class:`CircularConv2D`): the network treats its
canvas as a torus, so it can be sampled at any size divisible by 4, larger
than its crops, and the result tiles.

The photo is split once: crops of its left two-thirds train, crops of its
right third are held out to score against (:func:`split_photo`). Pixel
values are uint8 in [0, 255] as stored, and float in [-1, 1] for the model.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfimagegen import diffusion

__all__ = ["PHOTOS", "CircularConv2D", "load_photo", "split_photo", "random_crops",
           "make_texture_unet", "build_texture_flow", "seam_ratio", "colourise"]

PHOTOS = ("brick", "grass", "gravel")  # grey 512x512 photos in skimage.data


@keras.saving.register_keras_serializable(package="tfimagegen")
class CircularConv2D(layers.Conv2D):
    """A ``Conv2D`` whose ``"same"`` padding wraps around: what leaves one edge
    comes back at the opposite edge, as on a torus.

    Input float ``(batch, H, W, C)``; output ``(batch, H / s, W / s,
    filters)`` for stride ``s`` (sides divisible by ``s``). A network of these
    (and of stride-2 transposed convolutions, which need no padding) draws an
    image whose opposite edges continue each other.
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "same", **kwargs):
        if padding != "same":  # the wrap is the padding; "valid" would silently be "same"
            raise ValueError(f"padding must be 'same' (it wraps around), got {padding!r}")
        super().__init__(filters, kernel_size, strides=strides, padding="valid", **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": "same"}  # what this layer does

    def call(self, inputs):
        x = inputs
        for axis, (kernel, stride) in enumerate(zip(self.kernel_size, self.strides,
                                                    strict=True), start=1):
            total = max(kernel - stride, 0)  # "same" for a side divisible by the stride
            before, after = total // 2, total - total // 2
            if total:
                size = tf.shape(x)[axis]
                x = tf.concat([tf.gather(x, tf.range(size - before, size), axis=axis), x,
                               tf.gather(x, tf.range(after), axis=axis)], axis=axis)
        return super().call(x)

    def compute_output_shape(self, input_shape):
        batch, h, w, _ = input_shape
        sh, sw = self.strides
        return (batch, None if h is None else h // sh, None if w is None else w // sw,
                self.filters)


def load_photo(name: str = "gravel", scale: int = 2) -> np.ndarray:
    """One of scikit-image's texture photos, shrunk ``scale`` times: uint8 ``(H, W, 1)``.

    Shrunk with antialiasing (Pillow's box filter), so a small crop holds more
    of the pattern: at ``scale=2`` a 32-pixel crop of ``gravel`` holds about
    three stones across.
    """
    import skimage.data
    from PIL import Image

    if name not in PHOTOS:
        raise ValueError(f"name must be one of {', '.join(PHOTOS)}, got {name!r}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an int >= 1, got {scale!r}")
    photo = Image.fromarray(getattr(skimage.data, name)())
    photo = photo.resize((photo.width // scale, photo.height // scale), Image.Resampling.BOX)
    return np.asarray(photo, np.uint8)[..., None]


def split_photo(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)``: the left two-thirds and the right third of ``(H, W, C)``."""
    cut = photo.shape[1] * 2 // 3
    return photo[:, :cut], photo[:, cut:]


def random_crops(region: np.ndarray, size: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` random ``size``×``size`` crops of ``region`` ``(H, W, C)``, uint8 ``(count,
    size, size, C)``; seeded."""
    h, w = region.shape[:2]
    if not 1 <= size <= min(h, w):
        raise ValueError(f"size must be in [1, {min(h, w)}] for a {h}x{w} region, got {size}")
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, h - size + 1, count), rng.integers(0, w - size + 1, count)
    return np.stack([region[r:r + size, c:c + size] for r, c in zip(rows, cols, strict=True)])


def make_texture_unet(channels: int = 1, width: int = 32, cond_dim: int = 64) -> keras.Model:
    """(``x_t``, ``t``) → velocity, for images of any size divisible by 4, that tile.

    Inputs: ``x_t`` float ``(batch, H, W, channels)``, ``t`` float ``(batch,)``
    in [0, 1]. Output: float ``(batch, H, W, channels)``. The layout of
    :func:`tfimagegen.diffusion.make_unet` (a 2×2 patch fold, two residual
    blocks at H/2 and at H/4, a skip across), unconditional, with every 3×3
    convolution a :class:`CircularConv2D` and the sides left open.
    """
    x = keras.Input((None, None, channels), name="x_t")
    t = keras.Input((), name="t")
    cond = diffusion._condition(t, None, 0, cond_dim)
    h = layers.Conv2D(width, 2, strides=2, name="patchify")(x)             # H/2
    h = diffusion._res_block(h, cond, width, conv=CircularConv2D)
    skip = diffusion._res_block(h, cond, width, conv=CircularConv2D)
    h = CircularConv2D(2 * width, 3, strides=2)(skip)                      # H/4
    h = diffusion._res_block(h, cond, 2 * width, conv=CircularConv2D)
    h = diffusion._res_block(h, cond, 2 * width, conv=CircularConv2D)
    h = layers.Conv2DTranspose(width, 2, strides=2)(h)                     # H/2
    h = layers.Concatenate()([h, skip])
    h = diffusion._res_block(h, cond, width, conv=CircularConv2D)
    h = diffusion._res_block(h, cond, width, conv=CircularConv2D)
    h = layers.Activation("silu")(layers.GroupNormalization(8)(h))
    velocity = layers.Conv2DTranspose(channels, 2, strides=2, name="unpatchify")(h)  # H
    return keras.Model([x, t], velocity, name="texture_unet")


def build_texture_flow(channels: int = 1, width: int = 32, *, learning_rate: float = 2e-3,
                       steps: int = 20, seed: int | None = None) -> diffusion.FlowMatching:
    """A compiled, unconditional :class:`tfimagegen.diffusion.FlowMatching` on
    :func:`make_texture_unet`: ``fit`` it on crops in [-1, 1], ``generate`` noise of any
    size divisible by 4 (Heun steps)."""
    model = diffusion.FlowMatching(make_texture_unet(channels, width), num_classes=0,
                                   steps=steps, sampler="heun", seed=seed, name="texture_flow")
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def seam_ratio(tile: np.ndarray) -> float:
    """How visible the seam is when ``tile`` ``(H, W)`` or ``(H, W, C)`` is repeated.

    The mean absolute step between the last and first column and row (the
    seams of a 2×2 tiling), over the mean step between neighbours inside: 1
    means the seam is no larger than any other step (lesson 05's measure,
    on both axes).
    """
    t = np.asarray(tile, np.float64)
    inside = np.concatenate([np.abs(np.diff(t, axis=0)).ravel(),
                             np.abs(np.diff(t, axis=1)).ravel()]).mean()
    seam = np.concatenate([np.abs(t[0] - t[-1]).ravel(), np.abs(t[:, 0] - t[:, -1]).ravel()])
    return float(seam.mean() / inside)


def colourise(grey: np.ndarray, colours: str = "copper") -> np.ndarray:
    """A grey texture in [0, 1] ``(..., H, W)`` or ``(..., H, W, 1)`` as RGB float
    ``(..., H, W, 3)`` through the matplotlib colour map ``colours`` (a palette,
    as lesson 05 colours its terrain)."""
    import matplotlib

    g = np.asarray(grey, np.float64)
    if g.shape[-1] == 1:
        g = g[..., 0]
    return matplotlib.colormaps[colours](np.clip(g, 0.0, 1.0))[..., :3].astype(np.float32)
