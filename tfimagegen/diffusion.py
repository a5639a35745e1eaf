"""Flow matching: a diffusion model that trains in CPU-minutes, in pixels or in a VAE's latents.

Taught in ``notebooks/04_diffusion.ipynb``. Flow matching, also called
rectified flow (Lipman et al. 2022, arXiv:2210.02747; Liu et al. 2022,
arXiv:2209.03003), joins a data point :math:`x` and Gaussian noise
:math:`\\varepsilon` by a straight line,

.. math:: x_t = (1 - t)\\,x + t\\,\\varepsilon, \\qquad t \\in [0, 1],

and trains a network :math:`v_\\theta(x_t, t, y)` to predict the velocity of
that line, :math:`\\varepsilon - x`, by mean squared error. Sampling starts from
noise at :math:`t = 1` and follows the learned velocity back to :math:`t = 0`:
an ODE, solved here with Euler or Heun steps. A class-conditional model also
learns to draw without its label (label dropout to a *null* class), so that
sampling can push away from the unconditional velocity: classifier-free
guidance (Ho & Salimans 2022, arXiv:2207.12598).

DDPM and DDIM (Ho et al. 2020; Song et al. 2020) are the same family: another
noise schedule, a network that predicts :math:`\\varepsilon`, and a sampler
step. On this schedule the deterministic DDIM step *is* the Euler step
(:func:`ddim_step`); ``benchmarks/diffusion.py`` trains keras-io's DDIM recipe
beside this one.

Two spaces:

* pixels: :func:`make_unet`, a small U-Net on float ``(batch, H, W, C)``
  images in [-1, 1];
* latents: the standardised latent codes of a trained
  :class:`tfimagegen.vae.VAE`, by :func:`make_latent_mlp` for a flat code
  (digits) or :func:`make_latent_unet` for a spatial one (colour); the model
  keeps that VAE's decoder, so its samples are pixel means in [0, 1]
  (Rombach et al. 2022, arXiv:2112.10752, on a CPU's budget).
"""

from __future__ import annotations

import json
import logging
import math
from numbers import Integral
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfimagegen import textflow  # its layers (and CLIP's) must be registered to load a text model
from tfimagegen.data import DIGIT_SHAPE, check_image_shape
from tfimagegen.files import write_json
from tfimagegen.recipes import DiffusionRecipe as Recipe  # plain data, importable without TF
from tfimagegen.text import START, Vocabulary

__all__ = ["Recipe", "TimeEmbedding", "make_unet", "make_latent_mlp", "make_latent_unet",
           "interpolate",
           "velocity_target", "euler_step", "heun_step", "ddim_step", "FlowMatching",
           "build_flow", "encode_latents", "sharpen_decoder", "latent_dataset", "standardize",
           "count_flops", "SAMPLERS"]

SAMPLERS = ("euler", "heun")


class _OneTracePerModel(logging.Filter):
    """Drop TensorFlow's "retracing" warning for :meth:`FlowMatching._solve` only.

    Each loaded model traces its sampler once (every setting is a tensor), but
    TensorFlow counts traces per Python function, across models: loading a few
    runs in a row, as lessons 04 and 05 do, looks like "excessive retracing"
    when it is one trace per model, by design.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("FlowMatching._solve" in message and "retracing" in message)


tf.get_logger().addFilter(_OneTracePerModel())


@keras.saving.register_keras_serializable(package="tfimagegen")
class TimeEmbedding(layers.Layer):
    """Sinusoidal features of a time ``t``: float ``(batch,)`` in [0, 1] → ``(batch, dim)``.

    The frequencies run geometrically from 1 to 1,000 (Vaswani et al. 2017),
    so both coarse and fine differences in ``t`` are visible to the network.
    """

    def __init__(self, dim: int = 32, **kwargs):
        super().__init__(**kwargs)
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even int >= 2, got {dim!r}")
        self.dim = dim

    def call(self, t: tf.Tensor) -> tf.Tensor:
        half = self.dim // 2
        freqs = tf.exp(tf.linspace(0.0, math.log(1000.0), half))
        angles = tf.cast(t, tf.float32)[:, None] * freqs[None, :]
        return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim}


def _inputs(data: keras.KerasTensor, num_classes: int, text_length: int = 0):
    """The network's inputs: ``[data, t]``, and ``label`` if there are classes (or
    ``tokens``, a caption's word ids, for a text model); and t, label (or tokens)."""
    t = keras.Input((), name="t")
    if text_length:
        tokens = keras.Input((text_length,), dtype="int32", name="tokens")
        return [data, t, tokens], t, tokens
    if not num_classes:
        return [data, t], t, None
    label = keras.Input((), dtype="int32", name="label")
    return [data, t, label], t, label


def _condition(t, label, num_classes: int, dim: int, pooled_text=None):
    """The conditioning vector of every block: time features plus a label embedding
    (or a projection of a caption's mean word features, ``pooled_text``: FiLM)."""
    h = layers.Dense(dim, activation="silu")(TimeEmbedding(32, name="time_features")(t))
    if num_classes:  # id num_classes is the null label: "no class given"
        h = layers.Add()([h, layers.Embedding(num_classes + 1, dim, name="label_embedding")(label)])
    if pooled_text is not None:
        h = layers.Add()([h, layers.Dense(dim, name="text_embedding")(pooled_text)])
    return layers.Dense(dim, activation="silu")(h)


def _res_block(h, cond, width: int, conv=layers.Conv2D):
    """(GroupNorm, SiLU, 3×3 conv) twice, scaled and shifted per channel by ``cond``, plus ``h``.

    ``conv`` makes the 3×3 convolutions (``texture.CircularConv2D`` for a texture that tiles).
    """
    skip = h if h.shape[-1] == width else layers.Conv2D(width, 1)(h)
    h = conv(width, 3, padding="same")(layers.Activation("silu")(
        layers.GroupNormalization(8)(h)))
    scale = layers.Reshape((1, 1, width))(layers.Dense(width)(cond))
    shift = layers.Reshape((1, 1, width))(layers.Dense(width)(cond))
    h = layers.Add()([layers.Multiply()([h, layers.Rescaling(1.0, offset=1.0)(scale)]), shift])
    h = conv(width, 3, padding="same")(layers.Activation("silu")(
        layers.GroupNormalization(8)(h)))
    return layers.Add()([skip, h])


def make_unet(num_classes: int = Recipe.num_classes, width: int = Recipe.width,
              cond_dim: int = 128, image_shape: tuple[int, int, int] = DIGIT_SHAPE
              ) -> keras.Model:
    """(``x_t``, ``t``, label) → velocity: a U-Net for ``image_shape`` images, sized for a CPU.

    Inputs: ``x_t`` float ``(batch, H, W, C)`` (digits: 28, 28, 1); ``t`` float
    ``(batch,)`` in [0, 1]; and, if ``num_classes > 0``, ``label`` int
    ``(batch,)`` in ``[0, num_classes]``, where ``num_classes`` means "no
    label". Output: float ``(batch, H, W, C)``, the predicted ``noise - image``.

    A 2×2 stride-2 convolution first folds each 2×2 patch of pixels into
    channels, so the network works at H/2 (``width`` channels; 14×14 for
    digits) and H/4 (``2 * width``), with two residual blocks per level and a
    skip connection across; a 2×2 transposed convolution unfolds the result.
    Every block gets the time (and label) as a per-channel scale and shift.
    Sides must be divisible by 4.
    """
    shape = check_image_shape(image_shape)
    x = keras.Input(shape, name="x_t")
    inputs, t, label = _inputs(x, num_classes)
    cond = _condition(t, label, num_classes, cond_dim)
    h = layers.Conv2D(width, 2, strides=2, name="patchify")(x)            # 14×14
    h = _res_block(h, cond, width)
    skip = _res_block(h, cond, width)
    h = layers.Conv2D(2 * width, 3, strides=2, padding="same")(skip)     # 7×7
    h = _res_block(h, cond, 2 * width)
    h = _res_block(h, cond, 2 * width)
    h = layers.Conv2DTranspose(width, 2, strides=2)(h)                   # 14×14
    h = layers.Concatenate()([h, skip])
    h = _res_block(h, cond, width)
    h = _res_block(h, cond, width)
    h = layers.Activation("silu")(layers.GroupNormalization(8)(h))
    velocity = layers.Conv2DTranspose(shape[-1], 2, strides=2, name="unpatchify")(h)  # 28×28
    return keras.Model(inputs, velocity, name="unet")


def make_latent_unet(latent_shape: tuple[int, int, int], num_classes: int = Recipe.num_classes,
                     width: int = 48, cond_dim: int = 128, *,
                     text_encoder: keras.Model | None = None,
                     conditioning: str = Recipe.conditioning) -> keras.Model:
    """(``z_t``, ``t``, label) → velocity on a spatial code: a U-Net at the code's size.

    Inputs: ``z_t`` float ``(batch, h, w, c)``, a standardised VAE code (8×8×4
    for 32-pixel images at f = 4) mixed with noise; ``t`` and ``label`` as in
    :func:`make_unet`. Output: float ``(batch, h, w, c)``. The same residual
    blocks as :func:`make_unet`, at ``h`` (``width`` channels) and ``h / 2``
    (``2 * width``), with no patch folding: each position of the code already
    stands for an f×f patch of pixels.

    With a ``text_encoder`` (a CLIP run's, :func:`tfimagegen.clip.make_text_encoder`;
    frozen here), the third input is ``tokens``, int32 ``(batch, length)`` word ids
    instead of a label, and the network reads the encoder's word features: by
    ``conditioning="cross-attention"``, every position of the code attends to the
    words after each residual block (:class:`tfimagegen.textflow.CrossAttention`);
    by ``"film"``, their mean joins the time in every block's scale and shift.
    """
    h_, w_, c = (int(d) for d in latent_shape)
    z = keras.Input((h_, w_, c), name="z_t")
    length = 0 if text_encoder is None else int(text_encoder.inputs[0].shape[1])
    inputs, t, label = _inputs(z, 0 if length else num_classes, length)
    attend, pooled = textflow.text_inputs(text_encoder, label, conditioning)
    cond = _condition(t, None if length else label, 0 if length else num_classes, cond_dim,
                      pooled)

    def block(h, w):
        return attend(_res_block(h, cond, w))

    h = layers.Conv2D(width, 3, padding="same", name="stem")(z)
    h = block(h, width)
    skip = block(h, width)
    h = layers.Conv2D(2 * width, 3, strides=2, padding="same")(skip)
    h = block(h, 2 * width)
    h = block(h, 2 * width)
    h = layers.Conv2DTranspose(width, 2, strides=2)(h)
    if h_ % 2 or w_ % 2:  # an odd side (7 for 28 pixels at f = 4) came back one too long
        h = layers.Cropping2D(((0, h_ % 2), (0, w_ % 2)))(h)
    h = layers.Concatenate()([h, skip])
    h = block(h, width)
    h = block(h, width)
    h = layers.Activation("silu")(layers.GroupNormalization(8)(h))
    velocity = layers.Conv2D(c, 3, padding="same", name="velocity")(h)
    return keras.Model(inputs, velocity, name="latent_unet")


def make_latent_mlp(latent_dim: int = 16, num_classes: int = Recipe.num_classes,
                    width: int = 256, depth: int = 3) -> keras.Model:
    """(``z_t``, ``t``, label) → velocity in a VAE's latent space: an MLP.

    Inputs: ``z_t`` float ``(batch, latent_dim)``, standardised latent codes
    mixed with noise; ``t`` and ``label`` as in :func:`make_unet`. Output:
    float ``(batch, latent_dim)``. ``depth`` residual blocks of ``width`` SiLU
    units, each told the time and label.
    """
    z = keras.Input((latent_dim,), name="z_t")
    inputs, t, label = _inputs(z, num_classes)
    cond = _condition(t, label, num_classes, width)
    h = layers.Dense(width)(z)
    for _ in range(depth):
        update = layers.Dense(width, activation="silu")(
            layers.Add()([layers.LayerNormalization()(h), cond]))
        h = layers.Add()([h, layers.Dense(width)(update)])
    velocity = layers.Dense(latent_dim, name="velocity")(
        layers.Activation("silu")(layers.LayerNormalization()(h)))
    return keras.Model(inputs, velocity, name="latent_mlp")


def interpolate(x: tf.Tensor, noise: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
    """:math:`x_t = (1 - t)\\,x + t\\,\\varepsilon`; ``t`` ``(batch,)`` is broadcast."""
    t = tf.reshape(tf.cast(t, x.dtype), [-1] + [1] * (len(x.shape) - 1))
    return (1.0 - t) * x + t * noise


def velocity_target(x: tf.Tensor, noise: tf.Tensor) -> tf.Tensor:
    """What the network learns to predict: :math:`\\varepsilon - x`, constant along the line."""
    return noise - x


def euler_step(velocity, x_t: tf.Tensor, t: float, s: float) -> tf.Tensor:
    """One Euler step of the ODE from time ``t`` to ``s < t``: ``x_t - (t - s) v(x_t, t)``.

    ``velocity(x, t)`` takes a batch and a scalar time and returns ``dx/dt``.
    """
    return x_t - (t - s) * velocity(x_t, t)


def heun_step(velocity, x_t: tf.Tensor, t: float, s: float) -> tf.Tensor:
    """One Heun step: an Euler step, then the average of the slopes at both ends.

    Second order, for two network calls per step (Karras et al. 2022,
    arXiv:2206.00364). A step that ends at ``s = 0`` stays an Euler step, as
    in Karras et al.: at t = 0 the network sees a clean image and cannot tell
    which noise it came from, so its velocity there is no slope to average.
    """
    v_t = velocity(x_t, t)
    x_s = x_t - (t - s) * v_t
    return tf.cond(s > 0, lambda: x_t - (t - s) * 0.5 * (v_t + velocity(x_s, s)), lambda: x_s)


def ddim_step(x_t: tf.Tensor, predicted_noise: tf.Tensor, alpha_t, sigma_t, alpha_s, sigma_s
              ) -> tf.Tensor:
    """The deterministic DDIM step (Song et al. 2020, arXiv:2010.02502) for ``x_t = α_t x + σ_t ε``.

    Estimate the clean image from the predicted noise, then put it back at the
    next noise level with the same noise: ``α_s x̂ + σ_s ε̂``. With ``α = 1 - t``
    and ``σ = t``, and ``ε̂ = x_t + (1 - t) v``, this equals :func:`euler_step`.
    """
    x_hat = (x_t - sigma_t * predicted_noise) / alpha_t
    return alpha_s * x_hat + sigma_s * predicted_noise


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_guidance(guidance: object) -> float:
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float, np.floating)) \
            or not math.isfinite(guidance) or guidance < 0:
        raise ValueError(f"guidance must be a finite number >= 0, got {guidance!r}")
    return float(guidance)


@keras.saving.register_keras_serializable(package="tfimagegen")
class FlowMatching(keras.Model):
    """A velocity network trained by flow matching with ``fit``, and its ODE sampler.

    ``fit`` takes batches of data, float ``(batch, *noise_shape)``: images in
    [-1, 1] for a pixel model, standardised latent codes for a latent model;
    for a conditional model (``num_classes > 0``), ``(data, labels)`` pairs.
    ``train_step`` draws ``t ~ U(0, 1)`` and ``ε ~ N(0, I)`` per example from
    a seeded ``keras.random.SeedGenerator``, replaces a ``label_dropout``
    share of the labels by the null class ``num_classes``, and takes one
    step on the mean squared velocity error, averaged over the *global* batch.
    ``ema_velocity`` is an exponential moving average of the network's weights
    (decay ``ema``, warmed up as in :class:`tfimagegen.gan.GAN`); sampling uses it.

    Args:
        velocity: from :func:`make_unet` or :func:`make_latent_mlp` (or your
            own with the same inputs and output).
        num_classes: classes the network is told (0: unconditional).
        label_dropout: share of labels hidden while training, in [0, 1).
        ema: EMA decay in [0, 1).
        steps, guidance, sampler: the defaults of :meth:`generate`.
        guidance_below: guidance acts only at times ``t <= guidance_below``.
        decoder: for a latent model, the VAE decoder (latent → pixel logits).
        latent_mean, latent_std: per-dimension statistics that standardised
            the latent codes; :meth:`decode` undoes them.
        seed: seed of the training noise.
        vocabulary: for a text model (``velocity`` takes ``tokens``,
            :func:`make_latent_unet` with a ``text_encoder``),
            :meth:`tfimagegen.text.Vocabulary.to_json` of its words. Its
            "labels" are then int32 ``(batch, length)`` caption rows, and the
            null condition is the empty caption.
    """

    def __init__(self, velocity: keras.Model, num_classes: int = Recipe.num_classes,
                 label_dropout: float = Recipe.label_dropout, ema: float = Recipe.ema,
                 steps: int = Recipe.steps, guidance: float = Recipe.guidance,
                 sampler: str = Recipe.sampler, guidance_below: float = Recipe.guidance_below,
                 decoder: keras.Model | None = None,
                 latent_mean: list[float] | None = None, latent_std: list[float] | None = None,
                 seed: int | None = None, vocabulary: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = None if vocabulary is None else Vocabulary.from_json(vocabulary)
        self.preview_tokens = None  # captions of the training grids (set by train_setup)
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        if not 0.0 <= label_dropout < 1.0:
            raise ValueError(f"label_dropout must be in [0, 1), got {label_dropout}")
        self.num_classes = _check_int("num_classes", num_classes, 0)
        if self.vocabulary is not None and self.num_classes:
            raise ValueError("a text model (vocabulary) is told captions, not classes: "
                             "num_classes must be 0")
        self.conditional = bool(self.num_classes) or self.vocabulary is not None
        if self.vocabulary is not None:  # the CLIP run's text encoder stays as it was trained
            for layer in velocity.layers:
                if layer.name == "text_encoder":
                    textflow.freeze(layer)
        if len(velocity.inputs) != (3 if self.conditional else 2):
            raise ValueError(f"velocity takes {len(velocity.inputs)} inputs, but num_classes="
                             f"{self.num_classes} needs "
                             f"{'[x_t, t, label]' if self.conditional else '[x_t, t]'}")
        self.velocity, self.decoder = velocity, decoder
        self.label_dropout, self.ema, self.seed = float(label_dropout), float(ema), seed
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        self.steps, self.sampler = _check_int("steps", steps, 1), sampler
        self.guidance = _check_guidance(guidance)
        if not 0.0 <= guidance_below <= 1.0:
            raise ValueError(f"guidance_below must be in [0, 1], got {guidance_below!r}")
        self.guidance_below = float(guidance_below)
        # None for a side a fully convolutional network leaves open (tfimagegen.texture)
        self.noise_shape = tuple(None if d is None else int(d)
                                 for d in velocity.inputs[0].shape[1:])
        self.latent_dim = self.noise_shape[0] if len(self.noise_shape) == 1 else None
        self.latent_mean = None if latent_mean is None else [float(v) for v in latent_mean]
        self.latent_std = None if latent_std is None else [float(v) for v in latent_std]
        self.output_range = (0.0, 1.0) if decoder is not None else (-1.0, 1.0)
        self.ema_velocity = keras.models.clone_model(velocity)
        self.ema_velocity.set_weights(velocity.get_weights())
        self.ema_velocity.trainable = False  # only the optimiser's network trains
        if decoder is not None:
            decoder.trainable = False
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def build(self, input_shape=None) -> None:
        self.built = True  # the networks were built with their Inputs

    def compile(self, optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        super().compile(optimizer=optimizer, **kwargs)
        # built now, so BackupAndRestore can load its state into existing variables
        optimizer.build(self.velocity.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker]

    def _inputs(self, x, t, labels):
        return [x, t] if labels is None else [x, t, labels]

    def call(self, inputs, training: bool = False) -> tf.Tensor:
        return self.velocity(inputs, training=training)

    def train_step(self, data) -> dict[str, tf.Tensor]:
        labels = None
        if self.conditional:
            if not isinstance(data, (tuple, list)):
                raise ValueError(f"a conditional model (num_classes={self.num_classes}) trains "
                                 "on (data, labels) batches, got data only")
            x, labels = data[0], tf.cast(data[1], tf.int32)
        else:
            x = data[0] if isinstance(data, (tuple, list)) else data
        batch = tf.shape(x)[0]
        noise = keras.random.normal(tf.shape(x), seed=self.seed_generator)
        t = keras.random.uniform((batch,), seed=self.seed_generator)
        if labels is not None:  # hide some labels, so the model also learns p(x)
            hidden = keras.random.uniform((batch,), seed=self.seed_generator) < self.label_dropout
            labels = tf.where(hidden[:, None], self.null_condition(labels), labels) \
                if self.vocabulary is not None else tf.where(hidden, self.num_classes, labels)
        x_t, target = interpolate(x, noise, t), velocity_target(x, noise)
        with tf.GradientTape() as tape:
            predicted = self.velocity(self._inputs(x_t, t, labels), training=True)
            per_example = tf.reduce_mean(tf.square(predicted - target),
                                         axis=list(range(1, len(x.shape))))
            loss = tf.nn.compute_average_loss(per_example)
        variables = self.velocity.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        step = tf.cast(self.optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema, (1.0 + step) / (10.0 + step))
        for ema_var, var in zip(self.ema_velocity.weights, self.velocity.weights, strict=True):
            ema_var.assign(decay * ema_var + (1.0 - decay) * tf.cast(var, ema_var.dtype))
        self.loss_tracker.update_state(per_example)
        return {"loss": self.loss_tracker.result()}

    def guided_velocity(self, x: tf.Tensor, t, labels: tf.Tensor | None, guidance: float,
                        guidance_below: float | None = None) -> tf.Tensor:
        """The EMA network's velocity at ``(x, t)``, with classifier-free guidance.

        :math:`v = v(x, t, \\varnothing) + w\\,(v(x, t, y) - v(x, t, \\varnothing))`:
        ``guidance`` ``w = 0`` ignores the label, 1 is the plain conditional
        model, above 1 pushes further from "any digit". Guidance acts only
        while ``t <= guidance_below`` (default the model's: the last, least
        noisy part of the path); elsewhere, and for ``w = 1``, the velocity is
        the conditional one, one network call.
        """
        below = self.guidance_below if guidance_below is None else guidance_below
        t = tf.cast(t, tf.float32)
        times = tf.fill([tf.shape(x)[0]], t)
        if labels is None:
            return self.ema_velocity(self._inputs(x, times, None), training=False)

        def conditional():
            return self.ema_velocity([x, times, labels], training=False)

        def guided():
            null = self.null_condition(labels)
            both = self.ema_velocity([tf.concat([x, x], 0), tf.concat([times, times], 0),
                                      tf.concat([labels, null], 0)], training=False)
            cond, uncond = tf.split(both, 2)
            return uncond + tf.cast(guidance, x.dtype) * (cond - uncond)

        return tf.cond((tf.cast(guidance, tf.float32) != 1.0) & (t <= below), guided,
                       conditional)

    def null_condition(self, labels: tf.Tensor) -> tf.Tensor:
        """"No condition" for each row of ``labels``: the null class ``num_classes``, or,
        for a text model, the empty caption (the start word, then padding)."""
        if self.vocabulary is None:
            return tf.fill(tf.shape(labels), self.num_classes)
        empty = tf.one_hot(0, self.vocabulary.length, on_value=START, off_value=0,
                           dtype=tf.int32)
        return tf.broadcast_to(empty, tf.shape(labels))

    def solve(self, noise: tf.Tensor, labels: tf.Tensor | None = None, *,
              steps: int | None = None, guidance: float | None = None,
              sampler: str | None = None, guidance_below: float | None = None) -> tf.Tensor:
        """Follow the velocity from ``noise`` (t = 1) to data (t = 0) in equal time steps.

        Returns the model's data space (pixels in [-1, 1], not clipped, or
        standardised latents), same shape as ``noise``. Deterministic: the same
        noise gives the same result, bit for bit, on one machine.
        """
        steps = _check_int("steps", self.steps if steps is None else steps, 1)
        guidance = _check_guidance(self.guidance if guidance is None else guidance)
        sampler = sampler or self.sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        below = self.guidance_below if guidance_below is None else float(guidance_below)
        if not 0.0 <= below <= 1.0:
            raise ValueError(f"guidance_below must be in [0, 1], got {guidance_below!r}")
        if labels is not None:
            labels = tf.convert_to_tensor(labels, tf.int32)
        return self._solve(tf.convert_to_tensor(noise, tf.float32), labels, tf.constant(steps),
                           tf.constant(guidance, tf.float32), tf.constant(sampler == "heun"),
                           tf.constant(below, tf.float32))

    @tf.function(reduce_retracing=True)
    def _solve(self, x, labels, steps, guidance, heun, guidance_below):
        # Every setting is a tensor (the sampler too), so one traced graph serves them all.
        def velocity(x_t, t):
            return self.guided_velocity(x_t, t, labels, guidance, guidance_below)

        step = 1.0 / tf.cast(steps, tf.float32)
        for i in tf.range(steps):
            t = 1.0 - tf.cast(i, tf.float32) * step
            s = tf.maximum(t - step, 0.0)
            x = tf.cond(heun, lambda x=x, t=t, s=s: heun_step(velocity, x, t, s),
                        lambda x=x, t=t, s=s: euler_step(velocity, x, t, s))
        return x

    def decode(self, x: tf.Tensor) -> tf.Tensor:
        """Data-space samples as images: pixels in [-1, 1], or a latent model's means in [0, 1]."""
        if self.decoder is None:
            return tf.clip_by_value(x, -1.0, 1.0)
        z = x * tf.constant(self.latent_std) + tf.constant(self.latent_mean)
        return tf.sigmoid(self.decoder(z, training=False))

    def generate(self, noise: tf.Tensor, labels=None, *, steps: int | None = None,
                 guidance: float | None = None, sampler: str | None = None,
                 guidance_below: float | None = None, batch_size: int = 100) -> np.ndarray:
        """Images from ``noise`` ``(n, *noise_shape)``, in batches: float32 in :attr:`output_range`.

        ``labels``: int ``(n,)``, the class of each image (conditional models);
        default ``0, 1, …, 9, 0, …``; for a text model, int ``(n, length)`` caption
        rows (:meth:`tfimagegen.text.Vocabulary.encode`), default the empty caption.
        The sampler's settings default to the model's (see :meth:`solve`).
        ``batch_size`` 100: on two CPU cores, 1,000 draws of an untrained 64-px latent
        model took 54 s in batches of 100 against 84 s in batches of 500
        (benchmarks/README.md).
        """
        from tfimagegen.gan import cycle_labels

        if len(noise.shape) != len(self.noise_shape) + 1 or any(
                want is not None and got != want
                for got, want in zip(noise.shape[1:], self.noise_shape, strict=False)):
            raise ValueError(f"noise must be (n, {', '.join(map(str, self.noise_shape))}), one "
                             f"example per image (None: any size), got {tuple(noise.shape)}")
        if labels is not None and not self.conditional:
            raise ValueError("this model is unconditional (num_classes=0); it takes no labels")
        batch_size = _check_int("batch_size", batch_size, 1)
        n = int(noise.shape[0])
        if self.vocabulary is not None:
            labels = self._caption_rows(labels, n)
        elif self.num_classes and labels is None:
            labels = cycle_labels(n, self.num_classes)
        if labels is not None and self.vocabulary is None:
            labels = np.asarray(labels)
            if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"labels must be {n} integers, got {labels.dtype} {labels.shape}")
            if n and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(f"labels must be in [0, {self.num_classes}), got "
                                 f"{labels.min()} to {labels.max()}")
        parts = []
        for start in range(0, n, batch_size):
            chunk = None if labels is None else labels[start:start + batch_size]
            x = self.solve(noise[start:start + batch_size], chunk, steps=steps,
                           guidance=guidance, sampler=sampler, guidance_below=guidance_below)
            parts.append(self.decode(x).numpy())
        if not parts:
            return self.decode(tf.zeros((0, *noise.shape[1:]))).numpy()
        return np.concatenate(parts)

    def _caption_rows(self, tokens, n: int) -> np.ndarray:
        """Checked int32 ``(n, length)`` caption rows; ``None``: the empty caption."""
        length = self.vocabulary.length
        if tokens is None:
            return np.asarray(self.null_condition(tf.zeros((n, length), tf.int32)))
        tokens = np.asarray(tokens)
        if tokens.shape != (n, length) or not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"a text model's labels must be int caption rows of shape ({n}, "
                             f"{length}) (Vocabulary.encode), got {tokens.dtype} {tokens.shape}")
        if n and (tokens.min() < 0 or tokens.max() >= self.vocabulary.size):
            raise ValueError(f"caption rows must hold word ids in [0, {self.vocabulary.size}), "
                             f"got {tokens.min()} to {tokens.max()}")
        return tokens.astype(np.int32)

    def sample(self, z: tf.Tensor, labels=None) -> tf.Tensor:
        """:meth:`generate` with the defaults: the sample grids of a run call this (a text
        model draws its ``preview_tokens`` captions in turn, one per column, if set)."""
        if labels is None and self.preview_tokens is not None:
            rows = self.preview_tokens
            labels = rows[np.arange(int(z.shape[0])) % len(rows)]
        return tf.constant(self.generate(z, labels))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "velocity": keras.saving.serialize_keras_object(self.velocity),
            "decoder": None if self.decoder is None
            else keras.saving.serialize_keras_object(self.decoder),
            "num_classes": self.num_classes, "label_dropout": self.label_dropout,
            "ema": self.ema, "steps": self.steps, "guidance": self.guidance,
            "sampler": self.sampler, "guidance_below": self.guidance_below,
            "latent_mean": self.latent_mean,
            "latent_std": self.latent_std, "seed": self.seed,
            "vocabulary": None if self.vocabulary is None else self.vocabulary.to_json(),
        }

    def get_compile_config(self) -> dict:
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer)}

    def compile_from_config(self, config: dict) -> None:
        self.compile(keras.saving.deserialize_keras_object(config["optimizer"]))

    @classmethod
    def from_config(cls, config: dict) -> FlowMatching:
        config = dict(config)
        for key in ("velocity", "decoder"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def encode_latents(vae_model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Posterior means of uint8 ``(N, H, W, C)`` images under a VAE: float32
    ``(N, *vae_model.noise_shape)``.

    The images are prepared as the VAE saw them in training (``VAE.prepare``:
    digits binarised at 0.5).
    """
    x = vae_model.prepare(images)
    return np.concatenate([vae_model.encoder.predict(x[i:i + batch_size], verbose=0)[0]
                           for i in range(0, len(x), batch_size)]).astype(np.float32)


def sharpen_decoder(decoder: keras.Model, latents: np.ndarray, images: np.ndarray, *,
                    epochs: int, seed: int, batch_size: int = 64) -> keras.Model:
    """A copy of a VAE decoder fine-tuned to draw the grey digits behind their codes.

    The VAE learned to draw from *sampled* codes (and digits *binarised*), so
    its means are blurred. Here a copy learns ``latents`` (posterior means,
    float ``(N, *code)``) → ``images`` (uint8 ``(N, H, W, C)``, as [0, 1]
    targets of a cross-entropy) for ``epochs`` passes. The encoder and the
    latent space stay as they are; only the drawing sharpens, as Stable
    Diffusion's decoder was fine-tuned after its autoencoder was trained.
    """
    sharp = keras.models.clone_model(decoder)
    sharp.set_weights(decoder.get_weights())
    if epochs:
        keras.utils.set_random_seed(seed)
        sharp.compile(keras.optimizers.Adam(1e-3),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
        sharp.fit(latents, images.astype(np.float32) / 255.0, batch_size=batch_size,
                  epochs=epochs, verbose=0)
    plain = keras.models.clone_model(decoder)  # a copy of a compiled model keeps its optimiser
    plain.set_weights(sharp.get_weights())
    return plain


def latent_dataset(codes: np.ndarray, labels: np.ndarray | None, batch_size: int, *,
                   seed: int) -> tf.data.Dataset:
    """A shuffled, repeating dataset of float32 ``(batch, *code)`` codes (and int32 labels)."""
    elements = codes if labels is None else (codes, np.asarray(labels, np.int32))
    ds = tf.data.Dataset.from_tensor_slices(elements).shuffle(len(codes), seed=seed,
                                                              reshuffle_each_iteration=True)
    return ds.repeat().batch(batch_size).prefetch(tf.data.AUTOTUNE)


def build_flow(recipe: Recipe | None = None, seed: int | None = None, *,
               velocity: keras.Model | None = None, decoder: keras.Model | None = None,
               latents: np.ndarray | None = None,
               strategy: tf.distribute.Strategy | None = None,
               image_shape: tuple[int, int, int] = DIGIT_SHAPE,
               text_encoder: keras.Model | None = None, vocabulary=None) -> FlowMatching:
    """A compiled :class:`FlowMatching` for ``recipe`` (default ``Recipe()``).

    Pixel space by default (:func:`make_unet` for images of ``image_shape``).
    Given a VAE's ``decoder`` and ``latents`` (its codes of the training
    images, from :func:`encode_latents`), a latent model
    (:func:`make_latent_mlp` for flat codes, :func:`make_latent_unet` for
    feature maps) that standardises the codes by the mean and std of each
    dimension (of each channel, for a map) and draws through ``decoder``.
    With a CLIP run's ``text_encoder`` and its :class:`tfimagegen.text.Vocabulary`
    too, a text model that reads captions (``recipe.conditioning``; spatial codes).
    ``velocity`` swaps in a network of your own.
    """
    recipe = recipe or Recipe()
    strategy = strategy or tf.distribute.get_strategy()
    extra = {}
    if decoder is not None:
        if latents is None:
            raise ValueError("a latent model needs latents: encode_latents(vae_model, images)")
        per_channel = latents.reshape(-1, latents.shape[-1])
        extra = {"decoder": decoder, "latent_mean": per_channel.mean(0).tolist(),
                 "latent_std": (per_channel.std(0) + 1e-6).tolist()}
    if text_encoder is not None:
        if decoder is None or latents.ndim != 4 or vocabulary is None:
            raise ValueError("a text model needs a spatial latent space (decoder, latents of "
                             "shape (N, h, w, c)) and the vocabulary of its text encoder")
        extra["vocabulary"] = vocabulary.to_json()
    with strategy.scope():
        if velocity is None and decoder is None:
            velocity = make_unet(recipe.num_classes, recipe.width, image_shape=image_shape)
        elif velocity is None:
            velocity = (make_latent_mlp(latents.shape[1], recipe.num_classes, recipe.width)
                        if latents.ndim == 2 else
                        make_latent_unet(latents.shape[1:], recipe.num_classes, recipe.width,
                                         text_encoder=text_encoder,
                                         conditioning=recipe.conditioning))
        model = FlowMatching(velocity, num_classes=recipe.num_classes,
                             label_dropout=recipe.label_dropout, ema=recipe.ema,
                             steps=recipe.steps, guidance=recipe.guidance,
                             guidance_below=recipe.guidance_below, sampler=recipe.sampler,
                             seed=seed, name="flow", **extra)
        model.build()
        model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate))
    return model


def standardize(model: FlowMatching, latents: np.ndarray) -> np.ndarray:
    """Latent codes in a latent model's data space: minus its mean, over its std."""
    return ((latents - np.float32(model.latent_mean)) / np.float32(model.latent_std)
            ).astype(np.float32)


def count_flops(network: keras.Model) -> int:
    """Floating-point operations of one forward pass for one example (multiply-adds count 2).

    Counted by TensorFlow's profiler on the traced graph.
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    specs = [tf.TensorSpec((1, *i.shape[1:]), i.dtype) for i in network.inputs]
    # a one-input model is called on a tensor, not a list of one (Keras warns of the mismatch)
    concrete = tf.function(lambda *xs: network(list(xs) if len(xs) > 1 else xs[0],
                                               training=False)).get_concrete_function(*specs)
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # the profiler prints TF1 deprecation notices
    try:
        return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)
    finally:
        logger.setLevel(level)


# The model-family functions (tfimagegen.families): how runs trains and samples flow matching.

LATENT_FILE = "latent.json"  # a latent run's code statistics, for resuming


PREVIEW_CAPTIONS = 8  # a text run's sample grids: this many training captions, one per column


def train_setup(recipe: Recipe, run: dict, images: np.ndarray, labels: np.ndarray | None,
                build=None, *, captions: tuple[str, ...] | None = None
                ) -> tuple[FlowMatching, tf.data.Dataset, None]:
    """A compiled model and its training data: pixels in [-1, 1], or, for a
    latent recipe, the VAE run's standardised codes of the images (the VAE's
    decoder sharpened by :func:`sharpen_decoder` first).

    A latent run keeps what it computed: the codes' mean and std go to
    ``latent.json`` in the run folder, and a resumed run reads them back
    there (its sharpened decoder comes back with the rest of its weights from
    the backup) instead of computing them again.

    A text recipe (``recipe.text``, a CLIP run) learns each code with its
    caption (``captions``, encoded by that run's vocabulary, which is copied
    into this run folder for ``sample --prompt``); its grids draw
    :data:`PREVIEW_CAPTIONS` training captions spread over the set, one per column.
    """
    from tfimagegen import data, runfolder

    seed = run["seed"]
    labels = labels if recipe.num_classes else None
    if not recipe.latent:
        dataset = data.as_dataset(images, recipe.batch_size, seed=seed, scale="tanh",
                                  labels=labels, repeat=True)
        model = (build(recipe, seed) if build is not None
                 else build_flow(recipe, seed, image_shape=images.shape[1:]))
        return model, dataset, None
    vae_model, _ = runfolder.load_run_model(recipe.latent)
    latents = encode_latents(vae_model, images)
    out = Path(run["out"])
    saved = out / LATENT_FILE
    resuming = saved.is_file() and (out / "backup").is_dir()
    decoder = vae_model.decoder if resuming else sharpen_decoder(
        vae_model.decoder, latents, images, epochs=recipe.decoder_epochs, seed=seed)
    keras.utils.set_random_seed(seed)
    text = {}
    if recipe.text:
        clip_model, _ = runfolder.load_run_model(recipe.text)
        vocabulary = Vocabulary.load(Path(recipe.text))
        vocabulary.save(out)
        labels = vocabulary.encode(captions, strict=False)  # the CLIP run's words
        text = {"text_encoder": clip_model.text_encoder, "vocabulary": vocabulary}
    model = (build or build_flow)(recipe, seed, decoder=decoder, latents=latents, **text)
    if recipe.text:  # captions spread over the training set, so over its groups
        distinct = list(dict.fromkeys(captions))
        step = max(1, len(distinct) // PREVIEW_CAPTIONS)
        model.preview_tokens = vocabulary.encode(distinct[::step][:PREVIEW_CAPTIONS],
                                                 strict=False)
    if resuming:
        stats = json.loads(saved.read_text())
        model.latent_mean, model.latent_std = stats["latent_mean"], stats["latent_std"]
    else:
        write_json(saved, {"latent_mean": model.latent_mean, "latent_std": model.latent_std})
    return model, latent_dataset(standardize(model, latents), labels, recipe.batch_size,
                                 seed=seed), None


def saved_model(model: FlowMatching) -> FlowMatching:
    """What a finished run saves: the whole model (its EMA network samples)."""
    return model


def noise_shape(model: FlowMatching) -> tuple[int, ...]:
    """One example's noise: the image's shape in pixels, the code's in latents."""
    return model.noise_shape


def generate(model: FlowMatching, noise: tf.Tensor, labels: np.ndarray | None = None, *,
             steps: int | None = None, guidance: float | None = None) -> np.ndarray:
    """uint8 ``(n, H, W, C)`` images from ``noise``; ``steps`` and ``guidance``
    default to the model's (its recipe's)."""
    from tfimagegen import images

    return images.to_uint8(model.generate(noise, labels, steps=steps, guidance=guidance),
                           value_range=model.output_range)
