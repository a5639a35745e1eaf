"""A DCGAN for 28×28 digits that trains well in minutes on a CPU.

Taught in ``notebooks/02_gan.ipynb``. Follows DCGAN (Radford et al. 2015,
arXiv:1511.06434) with the non-saturating loss of Goodfellow et al. 2014
(arXiv:1406.2661). The default recipe (:class:`Recipe`) was chosen by measuring
quality per CPU-minute; ``benchmarks/gan.py`` compares it with the TensorFlow
DCGAN tutorial's recipe and ``benchmarks/README.md`` records what was tried.

Pixel range: the generator ends in ``tanh``, so images are float in [-1, 1]
(``tfimagegen.data.as_dataset(..., scale="tanh")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import layers

__all__ = ["Recipe", "make_generator", "make_discriminator", "discriminator_loss",
           "generator_loss", "GAN", "build_gan"]


@dataclass(frozen=True)
class Recipe:
    """The default GAN recipe; the notebook and the CLI both read it from here.

    Chosen by quality per CPU-minute on 2 cores (``benchmarks/README.md`` has
    the sweeps): small batches for many updates per CPU-second, 3×3 transposed
    convolutions (fast on CPU), and a generator wide enough to draw clean
    strokes (width 64 halves the FD of width 16 in the same five minutes).
    """

    latent_dim: int = 64  # 64 is plenty for digits; the tutorial's 100 trains no better
    width: int = 64  # generator: channels of the 14x14 layer (28x28 has half, 7x7 twice)
    d_width: int = 64  # discriminator: channels of its 7x7 layer (14x14 has half)
    kernel_size: int = 3  # 3x3 transposed convs run 2x faster than 4x4 on CPU (oneDNN)
    batch_size: int = 32  # small batches = more updates per CPU-second; 64 was worse
    learning_rate: float = 1e-3  # Adam, both networks; 3e-4 and 5e-4 learned slower here
    beta_1: float = 0.5  # DCGAN's momentum; 0.9 oscillates
    ema: float = 0.999  # weight averaging for sampling; 0.995 gave a worse FD
    epochs: int = 60  # ~4.5 min on 2 CPU cores with the 4,000 embedded digits
    quick_epochs: int = 2  # for tests


def make_generator(latent_dim: int = Recipe.latent_dim, width: int = Recipe.width,
                   kernel_size: int = Recipe.kernel_size) -> keras.Model:
    """Noise → digit: float ``(batch, latent_dim)`` → float ``(batch, 28, 28, 1)`` in [-1, 1].

    Dense to a 7×7 feature map, then two stride-2 transposed convolutions
    (7 → 14 → 28), batch normalisation and ReLU, and a ``tanh`` output layer.
    """
    return keras.Sequential([
        keras.Input((latent_dim,)),
        layers.Dense(7 * 7 * 2 * width, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Reshape((7, 7, 2 * width)),
        layers.Conv2DTranspose(width, kernel_size, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2DTranspose(width // 2, kernel_size, strides=2, padding="same",
                               use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(1, 3, padding="same", activation="tanh"),
    ], name="generator")


def make_discriminator(width: int = Recipe.d_width) -> keras.Model:
    """Digit → realness logit: float ``(batch, 28, 28, 1)`` in [-1, 1] → ``(batch, 1)``.

    Two stride-2 convolutions with LeakyReLU, no batch normalisation (it would
    let the discriminator compare real and fake images within a batch).
    """
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(width // 2, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Conv2D(width, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dense(1),
    ], name="discriminator")


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Per-example ``-log D(x) - log(1 - D(G(z)))`` with ``D = sigmoid(logit)``; ``(batch,)``.

    ``softplus(-l) = -log sigmoid(l)`` and ``softplus(l) = -log(1 - sigmoid(l))``,
    computed stably from logits.
    """
    return tf.reshape(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits), [-1])


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating per-example ``-log D(G(z))``; ``(batch,)``."""
    return tf.reshape(tf.nn.softplus(-fake_logits), [-1])


@keras.saving.register_keras_serializable(package="tfimagegen")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other by ``fit``.

    ``train_step`` runs one discriminator update and one generator update with
    ``tf.GradientTape``; Keras compiles it with ``tf.function``. The noise comes
    from a seeded ``keras.random.SeedGenerator``; the batch size from ``tf.shape``.
    Losses are averaged over the *global* batch, so the same code runs under
    any ``tf.distribute`` strategy.

    ``ema_generator`` holds an exponential moving average of the generator's
    weights (decay ``ema``, warmed up over the first steps); it gives smoother,
    better samples than the raw generator and is the one :meth:`sample` uses
    and the CLI saves (Yazıcı et al. 2018, arXiv:1806.04498).

    Args:
        generator, discriminator: models from :func:`make_generator` and
            :func:`make_discriminator` (or your own with the same shapes).
        latent_dim: size of the noise vector.
        ema: EMA decay in [0, 1); 0 makes the EMA generator a plain copy.
        seed: seed for the training noise.
    """

    output_range = (-1.0, 1.0)

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 latent_dim: int = Recipe.latent_dim, ema: float = Recipe.ema,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.ema, self.seed = latent_dim, ema, seed
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="d_real")
        self.fake_score_tracker = keras.metrics.Mean(name="d_fake")

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        kwargs.setdefault("optimizer", g_optimizer)  # else Keras adds an unused RMSprop
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        # built now, so BackupAndRestore can load their state into existing variables
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def build(self, input_shape=None) -> None:
        self.built = True  # the generator and discriminator were built with their Inputs

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker, self.real_score_tracker,
                self.fake_score_tracker]

    def call(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.generator(z, training=training)

    def sample(self, z: tf.Tensor) -> tf.Tensor:
        """Images in [-1, 1] from latent points ``(n, latent_dim)``, with the EMA weights."""
        return self.ema_generator(z, training=False)

    def train_step(self, real: tf.Tensor) -> dict[str, tf.Tensor]:
        batch = tf.shape(real)[0]

        # 1. Discriminator: push real logits up and fake logits down.
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(z, training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = tf.nn.compute_average_loss(discriminator_loss(real_logits, fake_logits))
        variables = self.discriminator.trainable_variables
        grads = tape.gradient(d_loss, variables)
        self.d_optimizer.apply_gradients(zip(grads, variables, strict=True))

        # 2. Generator: make the (updated) discriminator call fresh fakes real.
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = tf.nn.compute_average_loss(generator_loss(fake_logits))
        variables = self.generator.trainable_variables
        grads = tape.gradient(g_loss, variables)
        self.g_optimizer.apply_gradients(zip(grads, variables, strict=True))

        # 3. Exponential moving average of the generator's weights. The decay
        #    warms up as (1 + t) / (10 + t), so early averages are not stuck at init.
        t = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema, (1.0 + t) / (10.0 + t))
        for ema_var, var in zip(self.ema_generator.weights, self.generator.weights, strict=True):
            ema_var.assign(decay * ema_var + (1.0 - decay) * tf.cast(var, ema_var.dtype))

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.d_loss_tracker.update_state(d_loss * tf.cast(replicas, d_loss.dtype))
        self.g_loss_tracker.update_state(g_loss * tf.cast(replicas, g_loss.dtype))
        self.real_score_tracker.update_state(tf.sigmoid(real_logits))
        self.fake_score_tracker.update_state(tf.sigmoid(fake_logits))
        return {m.name: m.result() for m in self.metrics}

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "ema": self.ema,
            "seed": self.seed,
        }

    def get_compile_config(self) -> dict:
        return {"d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
                "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer)}

    def compile_from_config(self, config: dict) -> None:
        self.compile(**{k: keras.saving.deserialize_keras_object(v) for k, v in config.items()})

    @classmethod
    def from_config(cls, config: dict) -> GAN:
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_gan(recipe: Recipe = Recipe(), seed: int | None = None,
              strategy: tf.distribute.Strategy | None = None) -> GAN:
    """A compiled :class:`GAN` for ``recipe``, created under ``strategy``'s scope."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        gan = GAN(make_generator(recipe.latent_dim, recipe.width, recipe.kernel_size),
                  make_discriminator(recipe.d_width),
                  latent_dim=recipe.latent_dim, ema=recipe.ema, seed=seed, name="gan")
        gan.build()
        gan.compile(
            d_optimizer=keras.optimizers.Adam(recipe.learning_rate, beta_1=recipe.beta_1),
            g_optimizer=keras.optimizers.Adam(recipe.learning_rate, beta_1=recipe.beta_1),
        )
    return gan
