"""A variational autoencoder (VAE) for binarised 28×28 digits, trained on one loss: the ELBO.

Taught in ``notebooks/03_vae.ipynb``. Follows Kingma & Welling 2013
(arXiv:1312.6114); the importance-weighted bound is Burda et al. 2015
(arXiv:1509.00519) and the β weight Higgins et al. 2017. ``benchmarks/vae.py``
compares the default :class:`Recipe` with the TensorFlow CVAE tutorial's.

The encoder and the decoder are trained *jointly*, by one optimiser on one loss
(the negative ELBO), not in turns.

Pixels: the decoder is a Bernoulli decoder, so digits are binarised at 0.5
(:func:`tfimagegen.data.binarize`, as the TensorFlow tutorial does, so the nats
compare). The encoder takes float ``(batch, 28, 28, 1)`` in {0, 1}; the decoder
returns Bernoulli *logits* of the same shape, and ``sigmoid(logits)``, the pixel
means in [0, 1], are the images :meth:`VAE.sample` returns.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfimagegen import data
from tfimagegen.recipes import VAERecipe as Recipe  # plain data, importable without TensorFlow

__all__ = ["Recipe", "make_encoder", "make_decoder", "Sampling", "reconstruction_loss",
           "kl_divergence", "VAE", "build_vae", "elbo", "iwae_bound", "latent_grid"]

LOG_2PI = math.log(2.0 * math.pi)


def make_encoder(latent_dim: int = Recipe.latent_dim, width: int = Recipe.width) -> keras.Model:
    """Digit → posterior ``q(z|x)``: float ``(batch, 28, 28, 1)`` in {0, 1} → ``(mean, log_var)``.

    Two stride-2 convolutions (28 → 14 → 7) and two dense heads, each
    ``(batch, latent_dim)``: the mean and the log-variance of a diagonal Gaussian.
    """
    image = keras.Input((28, 28, 1), name="image")
    h = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(image)
    h = layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    mean = layers.Dense(latent_dim, name="z_mean")(h)
    log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(image, [mean, log_var], name="encoder")


def make_decoder(latent_dim: int = Recipe.latent_dim, width: int = Recipe.width) -> keras.Model:
    """Latent point → Bernoulli logits: ``(batch, latent_dim)`` → ``(batch, 28, 28, 1)``.

    Dense to a 7×7 map, two stride-2 transposed convolutions (7 → 14 → 28), and
    a 3×3 convolution with no activation: ``sigmoid`` of its output is the
    probability that each pixel is white.
    """
    return keras.Sequential([
        keras.Input((latent_dim,), name="z"),
        layers.Dense(7 * 7 * 2 * width, activation="relu"),
        layers.Reshape((7, 7, 2 * width)),
        layers.Conv2DTranspose(2 * width, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(1, 3, padding="same", name="logits"),
    ], name="decoder")


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


def kl_divergence(mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """``KL(N(mean, exp(log_var)) || N(0, I))`` in closed form, in nats: ``(batch,)``."""
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=1)


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
    """

    output_range = (0.0, 1.0)

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = Recipe.beta,
                 shift: int = 0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(beta, numbers.Real) and math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or shift < 0:
            raise ValueError(f"shift must be an int >= 0 (pixels), got {shift!r}")
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.shift, self.seed = float(beta), int(shift), seed
        self.latent_dim = int(decoder.input_shape[-1])
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
    def noise_shape(self) -> tuple[int]:
        """One example's latent point: ``(latent_dim,)``."""
        return (self.latent_dim,)

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
        """Pixel means in [0, 1], ``(n, 28, 28, 1)``, of latent points ``(n, latent_dim)``."""
        return tf.sigmoid(self.decoder(z, training=False))

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-example reconstruction and KL terms, nats ``(batch,)`` each."""
        mean, log_var = self.encoder(x, training=training)
        logits = self.decoder(self.sampling([mean, log_var]), training=training)
        return reconstruction_loss(x, logits), kl_divergence(mean, log_var)

    def train_step(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.augment is not None:  # a new random shift of every digit, every step
            x = self.augment(x, training=True)
        with tf.GradientTape() as tape:
            reconstruction, kl = self.loss_terms(x, training=True)
            loss = tf.nn.compute_average_loss(reconstruction + self.beta * kl)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return self._track(reconstruction, kl)

    def test_step(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
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
        }

    @classmethod
    def from_config(cls, config: dict) -> VAE:
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_vae(recipe: Recipe | None = None, seed: int | None = None,
              strategy: tf.distribute.Strategy | None = None,
              encoder: keras.Model | None = None, decoder: keras.Model | None = None) -> VAE:
    """A compiled :class:`VAE` for ``recipe`` (default ``Recipe()``), under ``strategy``'s scope.

    ``encoder`` and ``decoder`` swap in networks of your own (with the inputs
    and outputs of :func:`make_encoder` and :func:`make_decoder`); by default
    the recipe's are built.
    """
    recipe = recipe or Recipe()
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = VAE(encoder or make_encoder(recipe.latent_dim, recipe.width),
                    decoder or make_decoder(recipe.latent_dim, recipe.width),
                    beta=recipe.beta, shift=recipe.shift, seed=seed, name="vae")
        model.build()
        model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate))
    return model


def _binary_digits(images) -> np.ndarray:
    """uint8 digits ``(N, 28, 28[, 1])`` → float32 ``(N, 28, 28, 1)`` in {0, 1}."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise TypeError(f"images must be uint8 digits in [0, 255] (they are binarised at "
                        f"0.5), got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1) or len(x) == 0:
        raise ValueError(f"images must be (N, 28, 28) or (N, 28, 28, 1) digits, "
                         f"got shape {np.shape(images)}")
    return (data.binarize(x) / 255).astype(np.float32)


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    return int(k)


def elbo(model: VAE, images, *, seed: int = 0, batch_size: int = 500) -> float:
    """The evidence lower bound, in nats per image (mean over ``images``; higher is better).

    ``ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x)``, with one
    sample of ``z`` per image for the first term and the KL in closed form.

    Args:
        model: a trained :class:`VAE`.
        images: uint8 digits ``(N, 28, 28)`` or ``(N, 28, 28, 1)``, binarised at 0.5 here.
        seed: for the samples of ``z`` (stateless: the same seed, the same value).

    Raises:
        TypeError: images that are not uint8.
        ValueError: images of the wrong shape.
    """
    x = _binary_digits(images)
    total = 0.0
    for i, start in enumerate(range(0, len(x), batch_size)):
        batch = x[start:start + batch_size]
        mean, log_var = model.encoder(batch, training=False)
        z = mean + tf.exp(0.5 * log_var) * tf.random.stateless_normal(tf.shape(mean), [seed, i])
        logits = model.decoder(z, training=False)
        total += float(tf.reduce_sum(reconstruction_loss(batch, logits)
                                     + kl_divergence(mean, log_var)))
    return -total / len(x)


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
        images: uint8 digits ``(N, 28, 28)`` or ``(N, 28, 28, 1)``, binarised at 0.5 here.
        k: importance samples per image, ``>= 1``.
        seed: for the samples (stateless: the same seed, the same value).
        samples_per_batch: latent points decoded per call, ``>= 1``.

    Raises:
        TypeError: images that are not uint8.
        ValueError: images of the wrong shape, or ``k < 1``.
    """
    k = _check_k(k)
    x = _binary_digits(images)
    batch_size = max(1, samples_per_batch // k)
    chunk = min(k, max(1, samples_per_batch))  # samples of each image per decoder call
    total = 0.0
    for i, start in enumerate(range(0, len(x), batch_size)):
        batch = x[start:start + batch_size]
        n = len(batch)
        mean, log_var = model.encoder(batch, training=False)
        parts = []  # log-sum-exp of the importance weights of each chunk of samples, (n,)
        for j, first in enumerate(range(0, k, chunk)):
            m = min(chunk, k - first)
            # the first chunk draws with [seed, i]; each further one folds in its index
            chunk_seed = [seed, i] if j == 0 else tf.random.experimental.stateless_fold_in(
                [seed, i], j)
            eps = tf.random.stateless_normal((m, n, model.latent_dim), chunk_seed)
            z = mean + tf.exp(0.5 * log_var) * eps  # (m, n, latent_dim)
            logits = model.decoder(tf.reshape(z, (m * n, model.latent_dim)), training=False)
            log_px_z = -reconstruction_loss(tf.tile(batch, (m, 1, 1, 1)), logits)
            log_pz = -0.5 * tf.reduce_sum(tf.square(z) + LOG_2PI, axis=-1)
            log_qz_x = -0.5 * tf.reduce_sum(tf.square(eps) + log_var + LOG_2PI, axis=-1)
            log_w = tf.reshape(log_px_z, (m, n)) + log_pz - log_qz_x
            parts.append(tf.reduce_logsumexp(log_w, axis=0))
        total += float(tf.reduce_sum(tf.reduce_logsumexp(tf.stack(parts), axis=0) - math.log(k)))
    return total / len(x)


def latent_grid(model: VAE, n: int = 20) -> np.ndarray:
    """The 2-D latent manifold: decoded means on an ``n × n`` grid, uint8 ``(28n, 28n)``.

    The grid is evenly spaced in *probability*, not in ``z``: the points are the
    normal quantiles ``ndtri(p)`` for ``p`` from ``0.5/n`` to ``1 - 0.5/n``, so each
    cell covers the same prior mass (Kingma & Welling, figure 4).

    Raises:
        ValueError: a model whose latent space is not 2-D, or ``n < 2``.
    """
    if model.latent_dim != 2:
        raise ValueError(f"latent_grid needs a model with latent_dim 2, got {model.latent_dim}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    q = tf.math.ndtri(tf.linspace(0.5 / n, 1.0 - 0.5 / n, n))
    z1, z2 = tf.meshgrid(q, q[::-1])  # rows go from high z2 (top) to low z2 (bottom)
    z = tf.stack([tf.reshape(z1, [-1]), tf.reshape(z2, [-1])], axis=1)
    pixels = model.sample(z).numpy().reshape(n, n, 28, 28)
    grid = pixels.transpose(0, 2, 1, 3).reshape(28 * n, 28 * n)
    return np.round(grid * 255).astype(np.uint8)


# The model-family functions (tfimagegen.families): how runs trains and samples a VAE.

def train_setup(recipe: Recipe, run: dict, images: np.ndarray, labels: np.ndarray | None,
                build=None) -> tuple[VAE, tf.data.Dataset, tf.data.Dataset | None]:
    """A compiled VAE, its training digits binarised in [0, 1], and, for mnist and
    fashion_mnist, their validation split the same way (labels are not used)."""
    from tfimagegen import data, runs

    seed = run["seed"]
    dataset = data.as_dataset(data.binarize(images), recipe.batch_size, seed=seed,
                              scale="unit", repeat=True)
    validation = None
    if run["data"] in runs.NAMED_DATA:
        val_images = runs.load_training_data(run["data"], run["quick"], split="validation")[0]
        validation = data.as_dataset(data.binarize(val_images), 500, seed=seed, scale="unit")
    return (build or build_vae)(recipe, seed), dataset, validation


def saved_model(model: VAE) -> VAE:
    """What a finished run saves: the whole VAE (``elbo`` needs the encoder too)."""
    return model


def noise_shape(model: VAE) -> tuple[int]:
    """One example's latent point: ``(latent_dim,)``."""
    return model.noise_shape


def generate(model: VAE, z: tf.Tensor, labels: np.ndarray | None = None) -> np.ndarray:
    """uint8 ``(n, 28, 28, 1)`` pixel means of the decoder at ``z`` (no labels: unconditional)."""
    from tfimagegen import images

    logits = model.decoder.predict(z, batch_size=1000, verbose=0)
    return images.to_uint8(tf.sigmoid(logits).numpy(), value_range=VAE.output_range)
