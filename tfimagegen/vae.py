"""A variational autoencoder (VAE) for digits or colour images, trained on one loss: the ELBO.

Taught in ``notebooks/03_vae.ipynb``. Follows Kingma & Welling 2013
(arXiv:1312.6114); the importance-weighted bound is Burda et al. 2015
(arXiv:1509.00519) and the β weight Higgins et al. 2017. ``benchmarks/vae.py``
compares the default :class:`Recipe` with the TensorFlow CVAE tutorial's.

The encoder and the decoder are trained *jointly*, by one optimiser on one loss
(the negative ELBO), not in turns.

Two likelihoods, chosen by the data (``recipes.VAERecipe.for_data``):

* ``"bernoulli"`` (digits): pixels are binarised at 0.5
  (:func:`tfimagegen.data.binarize`, as the TensorFlow tutorial does, so the
  nats compare). The decoder returns Bernoulli *logits*;
* ``"gaussian"`` (colour, any other images): pixels are dequantised,
  :math:`x = (k + u) / 256` with :math:`u \\sim U(0, 1)` for the byte
  :math:`k`, and modelled by a Gaussian of mean ``sigmoid(logits)`` and a
  learnt standard deviation per channel (a calibrated decoder, Rybkin et al.
  2021, arXiv:2006.13202). Its nats count :math:`D \\log 256` more, so they
  bound the likelihood of the *bytes* (Theis et al. 2016, arXiv:1511.01844)
  and :func:`bits_per_dim` compares with published numbers.

Either way the encoder takes float ``(batch, H, W, C)`` in [0, 1] and
``sigmoid(logits)``, the pixel means in [0, 1], are the images
:meth:`VAE.sample` returns. The code is a vector (:func:`make_encoder`,
digits) or a feature map ``downsample`` times smaller than the image
(:func:`make_spatial_encoder`), the one latent diffusion learns (Rombach et
al. 2022, arXiv:2112.10752, their KL-f4 and KL-f8).
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfimagegen import data
from tfimagegen.data import DIGIT_SHAPE, check_image_shape
from tfimagegen.recipes import VAERecipe as Recipe  # plain data, importable without TensorFlow

__all__ = ["Recipe", "LIKELIHOODS", "make_encoder", "make_decoder", "make_spatial_encoder",
           "make_spatial_decoder", "Sampling", "reconstruction_loss", "gaussian_nll",
           "kl_divergence", "VAE", "build_vae", "elbo", "iwae_bound", "bits_per_dim",
           "latent_grid"]

LOG_2PI = math.log(2.0 * math.pi)
LOG_256 = math.log(256.0)
LIKELIHOODS = ("bernoulli", "gaussian")
MIN_LOG_SCALE = -7.0  # the decoder's std stays above e^-7 ~ 1/1100, a quarter of a byte
LOG_SCALE_INIT = keras.initializers.Constant(math.log(0.1))  # a std of 0.1 to begin with


def make_encoder(latent_dim: int = Recipe.latent_dim, width: int = Recipe.width,
                 image_shape: tuple[int, int, int] = DIGIT_SHAPE) -> keras.Model:
    """Image → posterior ``q(z|x)``: float ``(batch, H, W, C)`` in [0, 1] → ``(mean, log_var)``.

    Two stride-2 convolutions (28 → 14 → 7 for digits) and two dense heads,
    each ``(batch, latent_dim)``: the mean and the log-variance of a diagonal
    Gaussian. Sides must be divisible by 4.
    """
    image = keras.Input(check_image_shape(image_shape), name="image")
    h = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(image)
    h = layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    mean = layers.Dense(latent_dim, name="z_mean")(h)
    log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(image, [mean, log_var], name="encoder")


def make_decoder(latent_dim: int = Recipe.latent_dim, width: int = Recipe.width,
                 image_shape: tuple[int, int, int] = DIGIT_SHAPE) -> keras.Model:
    """Latent point → logits: ``(batch, latent_dim)`` → ``(batch, H, W, C)``.

    Dense to an (H/4)×(W/4) map, two stride-2 transposed convolutions (7 → 14
    → 28 for digits), and a 3×3 convolution with no activation: ``sigmoid`` of
    its output is each pixel's mean (for binarised digits, the probability that
    it is white).
    """
    h, w, c = check_image_shape(image_shape)
    return keras.Sequential([
        keras.Input((latent_dim,), name="z"),
        layers.Dense(h // 4 * (w // 4) * 2 * width, activation="relu"),
        layers.Reshape((h // 4, w // 4, 2 * width)),
        layers.Conv2DTranspose(2 * width, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(c, 3, padding="same", name="logits"),
    ], name="decoder")


def _levels(downsample: int) -> int:
    if downsample not in Recipe.DOWNSAMPLES:
        raise ValueError(f"downsample must be one of {Recipe.DOWNSAMPLES}, got {downsample!r}")
    return int(math.log2(downsample))


def _widths(width: int, levels: int) -> list[int]:
    """Channels after each halving: ``width``, then twice, capped at four times."""
    return [width * min(2**i, 4) for i in range(1, levels + 1)]


def make_spatial_encoder(image_shape: tuple[int, int, int], latent_channels: int = 4,
                         downsample: int = 4, width: int = Recipe.width) -> keras.Model:
    """Image → a posterior over a feature map: float ``(batch, H, W, C)`` in [0, 1] →
    ``(mean, log_var)``, each ``(batch, H/f, W/f, latent_channels)`` for ``f = downsample``.

    A 3×3 convolution, then per halving a stride-2 3×3 convolution and a 3×3
    convolution (SiLU), and two 1×1 heads. Every position of the code sees a
    neighbourhood of the image, as in the latent-diffusion autoencoders.
    """
    h, w, c = check_image_shape(image_shape, downsample)
    image = keras.Input((h, w, c), name="image")
    x = layers.Conv2D(width, 3, padding="same", activation="silu")(image)
    for channels in _widths(width, _levels(downsample)):
        x = layers.Conv2D(channels, 3, strides=2, padding="same", activation="silu")(x)
        x = layers.Conv2D(channels, 3, padding="same", activation="silu")(x)
    mean = layers.Conv2D(latent_channels, 1, name="z_mean")(x)
    log_var = layers.Conv2D(latent_channels, 1, name="z_log_var")(x)
    return keras.Model(image, [mean, log_var], name="encoder")


def make_spatial_decoder(image_shape: tuple[int, int, int], latent_channels: int = 4,
                         downsample: int = 4, width: int = Recipe.width) -> keras.Model:
    """A code ``(batch, H/f, W/f, latent_channels)`` → logits ``(batch, H, W, C)``.

    The encoder's mirror: a 3×3 convolution, then per doubling a stride-2
    transposed convolution and a 3×3 convolution (SiLU), and a 3×3 convolution
    to the image's channels.
    """
    h, w, c = check_image_shape(image_shape, downsample)
    widths = _widths(width, _levels(downsample))
    z = keras.Input((h // downsample, w // downsample, latent_channels), name="z")
    x = layers.Conv2D(widths[-1], 3, padding="same", activation="silu")(z)
    for channels in reversed([width, *widths[:-1]]):
        x = layers.Conv2DTranspose(channels, 3, strides=2, padding="same", activation="silu")(x)
        x = layers.Conv2D(channels, 3, padding="same", activation="silu")(x)
    logits = layers.Conv2D(c, 3, padding="same", name="logits")(x)
    return keras.Model(z, logits, name="decoder")


@keras.saving.register_keras_serializable(package="tfimagegen")
class Sampling(layers.Layer):
    """The reparameterisation trick: ``z = mean + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``.

    The randomness sits in ``eps``, outside the path from the encoder's outputs
    to ``z``, so gradients flow through ``mean`` and ``log_var``. Seeded by a
    ``keras.random.SeedGenerator``: the same seed gives the same draws.

    Call it on ``[mean, log_var]``, two float ``(batch, latent_dim)`` tensors.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        mean, log_var = inputs
        eps = keras.random.normal(tf.shape(mean), seed=self.seed_generator)
        return mean + tf.exp(0.5 * log_var) * eps

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


def reconstruction_loss(x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """``-log p(x|z)`` of a Bernoulli decoder, in nats: ``(batch,)``.

    The sum over pixels of the binary cross-entropy between the binary image
    ``x`` and ``sigmoid(logits)``, computed stably from logits.
    """
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)
    return tf.reduce_sum(tf.reshape(bce, [tf.shape(x)[0], -1]), axis=1)


def gaussian_nll(x: tf.Tensor, logits: tf.Tensor, log_scale: tf.Tensor) -> tf.Tensor:
    """``-log p(x|z)`` of dequantised pixels ``x`` in [0, 1] under a Gaussian of mean
    ``sigmoid(logits)`` and std ``exp(log_scale)`` (per channel), plus ``log 256`` per
    value: nats ``(batch,)`` bounding the likelihood of the bytes behind ``x``."""
    log_scale = tf.maximum(tf.cast(log_scale, x.dtype), MIN_LOG_SCALE)
    z = (x - tf.sigmoid(logits)) * tf.exp(-log_scale)
    nll = 0.5 * tf.square(z) + log_scale + 0.5 * LOG_2PI + LOG_256
    return tf.reduce_sum(tf.reshape(nll, [tf.shape(x)[0], -1]), axis=1)


def kl_divergence(mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """``KL(N(mean, exp(log_var)) || N(0, I))`` in closed form, in nats: ``(batch,)``.

    Summed over every axis but the first, so a flat code and a feature map alike.
    """
    kl = 0.5 * (tf.exp(log_var) + tf.square(mean) - 1.0 - log_var)
    return tf.reduce_sum(tf.reshape(kl, [tf.shape(mean)[0], -1]), axis=1)


@keras.saving.register_keras_serializable(package="tfimagegen")
class VAE(keras.Model):
    """An encoder and a decoder trained together by ``fit`` on the negative ELBO.

    ``train_step`` encodes a batch, samples ``z`` with :class:`Sampling`,
    decodes it, and takes one gradient step on
    ``reconstruction + beta * kl`` averaged over the *global* batch (so the
    same code runs under any ``tf.distribute`` strategy). It tracks ``loss``,
    ``reconstruction`` and ``kl`` separately; ``test_step`` (``evaluate``,
    ``validation_data``) reports the same three without updating.

    Args:
        encoder, decoder: from :func:`make_encoder` and :func:`make_decoder`
            (or your own with the same inputs and outputs).
        beta: weight of the KL term, ``>= 0``; 1 gives the ELBO.
        shift: data augmentation: while training, each digit moves by a random
            whole number of pixels, up to ``shift`` in each direction
            (``keras.layers.RandomTranslation``); 0 turns it off.
        seed: seed of the sampling noise and of the shifts.
        likelihood: ``"bernoulli"`` (binarised digits) or ``"gaussian"``
            (dequantised pixels, with a learnt std per channel, ``log_scale``).
            Last, so that calls written before it existed keep their meaning.
    """

    output_range = (0.0, 1.0)

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = Recipe.beta,
                 shift: int = 0, seed: int | None = None, likelihood: str = "bernoulli",
                 **kwargs):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got "
                             f"{likelihood!r}")
        if not (isinstance(beta, numbers.Real) and math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
            raise ValueError(f"shift must be an int >= 0 (pixels), got {shift!r}")
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.shift, self.seed = float(beta), int(shift), seed
        self.likelihood = likelihood
        self.latent_shape = tuple(int(d) for d in decoder.input_shape[1:])
        self.latent_dim = self.latent_shape[-1]  # a flat code's size; a map's channels
        self.image_shape = tuple(int(d) for d in encoder.input_shape[1:])
        self.log_scale = None
        if likelihood == "gaussian":  # log std of each channel, learnt with the rest
            self.log_scale = self.add_weight(shape=(self.image_shape[-1],),
                                             initializer=LOG_SCALE_INIT,
                                             name="log_scale")
        self.sampling = Sampling(seed, name="sampling")
        self.augment = None
        if shift:
            height, width = encoder.input_shape[1:3]
            self.augment = layers.RandomTranslation(
                shift / height, shift / width, fill_mode="constant", interpolation="nearest",
                seed=None if seed is None else seed + 1, name="augment")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """One example's latent point: ``(latent_dim,)``, or ``(H/f, W/f, channels)``."""
        return self.latent_shape

    def prepare(self, images) -> np.ndarray:
        """uint8 images ``(N, H, W, C)`` → float32 in [0, 1] as this model sees them:
        binarised (Bernoulli) or as they are (Gaussian; dequantised while training).

        Raises:
            TypeError: images that are not uint8.
            ValueError: images of another shape than the encoder's input.
        """
        x = np.asarray(images)
        if x.dtype != np.uint8:
            raise TypeError(f"images must be uint8 in [0, 255], got dtype {x.dtype}")
        if x.ndim == 3 and self.image_shape[-1] == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != self.image_shape or len(x) == 0:
            shape = ", ".join(map(str, self.image_shape))
            raise ValueError(f"images must be (N, {shape}) for this model, got shape "
                             f"{np.shape(images)}")
        if self.likelihood == "bernoulli":
            x = data.binarize(x)
        return (x / 255).astype(np.float32)

    def dequantize(self, x: tf.Tensor, noise: tf.Tensor) -> tf.Tensor:
        """Pixels in [0, 1] (bytes / 255) spread over their byte's bin: ``(byte + noise) / 256``,
        ``noise`` uniform in [0, 1) of the same shape."""
        return (tf.round(x * 255.0) + noise) / 256.0

    def build(self, input_shape=None) -> None:
        self.built = True  # the encoder and decoder were built with their Inputs

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Reconstruction logits of ``x``, through one sampled ``z``."""
        mean, log_var = self.encoder(x, training=training)
        return self.decoder(self.sampling([mean, log_var]), training=training)

    def sample(self, z: tf.Tensor) -> tf.Tensor:
        """Pixel means in [0, 1], ``(n, H, W, C)``, of latent points ``(n, *noise_shape)``."""
        return tf.sigmoid(self.decoder(z, training=False))

    def log_likelihood(self, x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """``log p(x|z)`` in nats ``(batch,)``: binary ``x`` (Bernoulli) or dequantised ``x``."""
        if self.likelihood == "bernoulli":
            return -reconstruction_loss(x, logits)
        return -gaussian_nll(x, logits, self.log_scale)

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-example reconstruction and KL terms, nats ``(batch,)`` each."""
        mean, log_var = self.encoder(x, training=training)
        logits = self.decoder(self.sampling([mean, log_var]), training=training)
        return -self.log_likelihood(x, logits), kl_divergence(mean, log_var)

    def train_step(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.augment is not None:  # a new random shift of every digit, every step
            x = self.augment(x, training=True)
        if self.likelihood == "gaussian":
            x = self.dequantize(x, keras.random.uniform(tf.shape(x),
                                                        seed=self.sampling.seed_generator))
        with tf.GradientTape() as tape:
            reconstruction, kl = self.loss_terms(x, training=True)
            loss = tf.nn.compute_average_loss(reconstruction + self.beta * kl)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return self._track(reconstruction, kl)

    def test_step(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.likelihood == "gaussian":  # the bins' middles: a fixed, noise-free score
            x = self.dequantize(x, tf.fill(tf.shape(x), 0.5))
        return self._track(*self.loss_terms(x, training=False))

    def _track(self, reconstruction: tf.Tensor, kl: tf.Tensor) -> dict[str, tf.Tensor]:
        self.loss_tracker.update_state(reconstruction + self.beta * kl)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "shift": self.shift,
            "seed": self.seed,
            "likelihood": self.likelihood,
        }

    @classmethod
    def from_config(cls, config: dict) -> VAE:
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_vae(recipe: Recipe | None = None, seed: int | None = None,
              strategy: tf.distribute.Strategy | None = None,
              encoder: keras.Model | None = None, decoder: keras.Model | None = None,
              image_shape: tuple[int, int, int] = DIGIT_SHAPE) -> VAE:
    """A compiled :class:`VAE` for ``recipe`` (default ``Recipe()``), under ``strategy``'s scope.

    ``image_shape`` ``(H, W, C)`` is the data's. A recipe with ``downsample``
    builds the spatial networks (:func:`make_spatial_encoder`), else the flat
    ones. ``encoder`` and ``decoder`` swap in networks of your own (with the
    same inputs and outputs); by default the recipe's are built.
    """
    recipe = recipe or Recipe()
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        if recipe.downsample:
            networks = (make_spatial_encoder(image_shape, recipe.latent_channels,
                                             recipe.downsample, recipe.width),
                        make_spatial_decoder(image_shape, recipe.latent_channels,
                                             recipe.downsample, recipe.width))
        else:
            networks = (make_encoder(recipe.latent_dim, recipe.width, image_shape),
                        make_decoder(recipe.latent_dim, recipe.width, image_shape))
        model = VAE(encoder or networks[0], decoder or networks[1], beta=recipe.beta,
                    shift=recipe.shift, seed=seed, likelihood=recipe.likelihood, name="vae")
        model.build()
        model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate))
    return model


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    return int(k)


def _scored(model: VAE, batch: np.ndarray, seed) -> tf.Tensor:
    """A batch as it is scored: binary digits as they are; colour dequantised by seeded noise."""
    x = tf.constant(batch)
    if model.likelihood == "gaussian":
        x = model.dequantize(x, tf.random.stateless_uniform(tf.shape(x), seed))
    return x


def elbo(model: VAE, images, *, seed: int = 0, batch_size: int = 500) -> float:
    """The evidence lower bound, in nats per image (mean over ``images``; higher is better).

    ``ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x)``, with one
    sample of ``z`` per image for the first term and the KL in closed form.

    Args:
        model: a trained :class:`VAE`.
        images: uint8 ``(N, H, W, C)`` of the model's shape (digits may be
            ``(N, 28, 28)``), binarised at 0.5 or dequantised as in training.
        seed: for the samples of ``z`` (stateless: the same seed, the same value).

    Raises:
        TypeError: images that are not uint8.
        ValueError: images of the wrong shape.
    """
    x = model.prepare(images)
    total = 0.0
    for i, start in enumerate(range(0, len(x), batch_size)):
        batch = _scored(model, x[start:start + batch_size], [seed, i + 2**20])
        mean, log_var = model.encoder(batch, training=False)
        z = mean + tf.exp(0.5 * log_var) * tf.random.stateless_normal(tf.shape(mean), [seed, i])
        logits = model.decoder(z, training=False)
        total += float(tf.reduce_sum(-model.log_likelihood(batch, logits)
                                     + kl_divergence(mean, log_var)))
    return -total / len(x)


def bits_per_dim(nats: float, image_shape: tuple[int, ...]) -> float:
    """A log-likelihood (bound) of nats per image as bits per pixel value: ``-nats / (D ln 2)``
    for ``D`` values per image (lower is better)."""
    return -nats / (int(np.prod(image_shape)) * math.log(2.0))


def iwae_bound(model: VAE, images, k: int = 50, *, seed: int = 0,
               samples_per_batch: int = 2_000) -> float:
    """The importance-weighted bound ``L_k`` (Burda et al.), in nats per image.

    ``L_k(x) = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)]`` with ``z_1..z_k ~ q(z|x)``.
    ``L_1`` is the ELBO; ``L_k`` rises with ``k`` towards ``log p(x)``, so
    ``iwae_bound(model, x, k=50)`` is a tighter estimate of the log-likelihood.

    Memory stays bounded whatever ``k``: at most ``samples_per_batch`` latent
    points are decoded at once (several images per call for a small ``k``,
    the ``k`` samples of one image in several calls for a large one), and the
    log-mean-exp is accumulated across calls.

    Args:
        model: a trained :class:`VAE`.
        images: as :func:`elbo` takes them.
        k: importance samples per image, ``>= 1``.
        seed: for the samples (stateless: the same seed, the same value).
        samples_per_batch: latent points decoded per call, ``>= 1``.

    Raises:
        TypeError: images that are not uint8.
        ValueError: images of the wrong shape, or ``k < 1``.
    """
    k = _check_k(k)
    x = model.prepare(images)
    batch_size = max(1, samples_per_batch // k)
    chunk = min(k, max(1, samples_per_batch))  # samples of each image per decoder call
    latent = model.latent_shape
    total = 0.0
    for i, start in enumerate(range(0, len(x), batch_size)):
        batch = _scored(model, x[start:start + batch_size], [seed, i + 2**20])
        n = int(batch.shape[0])
        mean, log_var = model.encoder(batch, training=False)
        parts = []  # log-sum-exp of the importance weights of each chunk of samples, (n,)
        for j, first in enumerate(range(0, k, chunk)):
            m = min(chunk, k - first)
            # the first chunk draws with [seed, i]; each further one folds in its index
            chunk_seed = [seed, i] if j == 0 else tf.random.experimental.stateless_fold_in(
                [seed, i], j)
            eps = tf.random.stateless_normal((m, n, *latent), chunk_seed)
            z = mean + tf.exp(0.5 * log_var) * eps  # (m, n, *latent)
            logits = model.decoder(tf.reshape(z, (m * n, *latent)), training=False)
            log_px_z = model.log_likelihood(tf.tile(batch, (m, 1, 1, 1)), logits)
            axes = list(range(2, 2 + len(latent)))
            log_pz = -0.5 * tf.reduce_sum(tf.square(z) + LOG_2PI, axis=axes)
            log_qz_x = -0.5 * tf.reduce_sum(tf.square(eps) + log_var + LOG_2PI, axis=axes)
            log_w = tf.reshape(log_px_z, (m, n)) + log_pz - log_qz_x
            parts.append(tf.reduce_logsumexp(log_w, axis=0))
        total += float(tf.reduce_sum(tf.reduce_logsumexp(tf.stack(parts), axis=0) - math.log(k)))
    return total / len(x)


def latent_grid(model: VAE, n: int = 20) -> np.ndarray:
    """The 2-D latent manifold: decoded means on an ``n × n`` grid, uint8 ``(Hn, Wn)``
    for grey images (``(Hn, Wn, C)`` for colour).

    The grid is evenly spaced in *probability*, not in ``z``: the points are the
    normal quantiles ``ndtri(p)`` for ``p`` from ``0.5/n`` to ``1 - 0.5/n``, so each
    cell covers the same prior mass (Kingma & Welling, figure 4).

    Raises:
        ValueError: a model whose latent space is not 2-D, or ``n < 2``.
    """
    if model.latent_shape != (2,):
        code = model.latent_shape
        raise ValueError("latent_grid needs a model with latent_dim 2, got "
                         + (str(code[0]) if len(code) == 1 else f"a code of shape {code}"))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    q = tf.math.ndtri(tf.linspace(0.5 / n, 1.0 - 0.5 / n, n))
    z1, z2 = tf.meshgrid(q, q[::-1])  # rows go from high z2 (top) to low z2 (bottom)
    z = tf.stack([tf.reshape(z1, [-1]), tf.reshape(z2, [-1])], axis=1)
    h, w, c = model.image_shape
    pixels = model.sample(z).numpy().reshape(n, n, h, w, c)
    grid = pixels.transpose(0, 2, 1, 3, 4).reshape(h * n, w * n, c)
    return np.round((grid[..., 0] if c == 1 else grid) * 255).astype(np.uint8)


# The model-family functions (tfimagegen.families): how runs trains and samples a VAE.

def train_setup(recipe: Recipe, run: dict, images: np.ndarray, labels: np.ndarray | None,
                build=None) -> tuple[VAE, tf.data.Dataset, tf.data.Dataset | None]:
    """A compiled VAE for the data's shape, its training images in [0, 1] (binarised
    for the Bernoulli likelihood) and, where the source has one, its validation split
    the same way (labels are not used)."""
    from tfimagegen import rundata

    seed = run["seed"]

    def prepared(x):
        return data.binarize(x) if recipe.likelihood == "bernoulli" else x

    dataset = data.as_dataset(prepared(images), recipe.batch_size, seed=seed, scale="unit",
                              repeat=True)
    validation = rundata.other_split(run, "validation", run["quick"])
    if validation is not None:
        validation = data.as_dataset(prepared(validation.images), 500, seed=seed, scale="unit")
    if build is not None:
        return build(recipe, seed), dataset, validation
    return build_vae(recipe, seed, image_shape=images.shape[1:]), dataset, validation


def saved_model(model: VAE) -> VAE:
    """What a finished run saves: the whole VAE (``elbo`` needs the encoder too)."""
    return model


def noise_shape(model: VAE) -> tuple[int, ...]:
    """One example's latent point: ``(latent_dim,)`` or ``(H/f, W/f, channels)``."""
    return model.noise_shape


def generate(model: VAE, z: tf.Tensor, labels: np.ndarray | None = None) -> np.ndarray:
    """uint8 ``(n, H, W, C)`` pixel means of the decoder at ``z`` (no labels: unconditional)."""
    from tfimagegen import images

    logits = model.decoder.predict(z, batch_size=1000, verbose=0)
    return images.to_uint8(tf.sigmoid(logits).numpy(), value_range=VAE.output_range)
