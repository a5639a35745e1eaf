"""The anchors' recipes, re-implemented for any image shape: what the benchmarks compare with.

Not a benchmark itself (``make bench`` skips files starting with ``_``).

* :class:`DDIM`: keras.io/examples/generative/ddim (Oxford flowers at 64 px):
  a U-Net of widths 32/64/96 with two residual blocks per level (batch norm
  without scale, swish), average-pool down, bilinear up, the noise variance as
  a 32-number sinusoidal embedding (frequencies 1 to 1,000) spread over the
  image, a cosine-angle schedule with signal rates 0.95 to 0.02, noise
  prediction with mean-absolute error, EMA 0.999, pixels standardised by a
  ``Normalization`` layer, DDIM steps to sample; compile it with AdamW 1e-3,
  weight decay 1e-4, and train at batch 64, as keras-io does. Unconditional.
  One level fewer than keras-io's four, for 28- and 32-pixel images.
* :func:`keras_io_dcgan`: keras.io/examples/generative/dcgan_overriding_train_step
  (CelebA faces at 64 px): a discriminator of three 4×4 stride-2 convolutions
  (64, 128, 128) with LeakyReLU 0.2, flatten, dropout 0.2 and a sigmoid; a
  generator from a 128-number code through Dense (side/8)²·128 and three 4×4
  stride-2 transposed convolutions (128, 256, 512) with LeakyReLU 0.2 to a 5×5
  sigmoid convolution; binary cross-entropy with 0.05 uniform noise on the
  discriminator's labels, Adam 1e-4 for both; train at batch 32, pixels in
  [0, 1]. Unconditional.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers


class NoiseEmbedding(layers.Layer):
    """keras-io's ``sinusoidal_embedding``: 16 frequencies from 1 to 1,000, sin and cos."""

    def call(self, x):
        freqs = tf.exp(tf.linspace(tf.math.log(1.0), tf.math.log(1000.0), 16))
        angular = 2.0 * math.pi * freqs
        return tf.concat([tf.sin(angular * x), tf.cos(angular * x)], axis=3)


def _residual(x, width):
    residual = x if x.shape[3] == width else layers.Conv2D(width, 1)(x)
    x = layers.BatchNormalization(center=False, scale=False)(x)
    x = layers.Conv2D(width, 3, padding="same", activation="swish")(x)
    x = layers.Conv2D(width, 3, padding="same")(x)
    return layers.Add()([x, residual])


def ddim_network(shape: tuple[int, int, int], widths=(32, 64, 96),
                 block_depth: int = 2) -> keras.Model:
    """keras-io's ``get_network`` for ``shape`` images: (noisy images, noise variance) → noise."""
    noisy = keras.Input(shape)
    variance = keras.Input((1, 1, 1))
    e = layers.UpSampling2D(size=shape[0], interpolation="nearest")(NoiseEmbedding()(variance))
    x = layers.Concatenate()([layers.Conv2D(widths[0], 1)(noisy), e])
    skips = []
    for width in widths[:-1]:
        for _ in range(block_depth):
            x = _residual(x, width)
            skips.append(x)
        x = layers.AveragePooling2D(2)(x)
    for _ in range(block_depth):
        x = _residual(x, widths[-1])
    for width in reversed(widths[:-1]):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        for _ in range(block_depth):
            x = _residual(layers.Concatenate()([x, skips.pop()]), width)
    return keras.Model([noisy, variance],
                       layers.Conv2D(shape[-1], 1, kernel_initializer="zeros")(x))


class DDIM(keras.Model):
    """keras-io's ``DiffusionModel``: noise prediction, cosine-angle schedule, EMA, DDIM steps."""

    def __init__(self, seed: int, shape: tuple[int, int, int]):
        super().__init__()
        self.normalizer = layers.Normalization()
        self.network = ddim_network(shape)
        self.ema_network = keras.models.clone_model(self.network)
        self.ema_network.set_weights(self.network.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    @staticmethod
    def schedule(times):
        start, end = tf.acos(0.95), tf.acos(0.02)
        angles = start + times * (end - start)
        return tf.sin(angles), tf.cos(angles)  # noise rates, signal rates

    def denoise(self, noisy, noise_rates, signal_rates, network, training):
        noise = network([noisy, noise_rates**2], training=training)
        return noise, (noisy - noise_rates * noise) / signal_rates

    def train_step(self, images):
        images = self.normalizer(images, training=True)
        batch = tf.shape(images)[0]
        noises = keras.random.normal(tf.shape(images), seed=self.seed_generator)
        times = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator)
        noise_rates, signal_rates = self.schedule(times)
        noisy = signal_rates * images + noise_rates * noises
        with tf.GradientTape() as tape:
            predicted, _ = self.denoise(noisy, noise_rates, signal_rates, self.network,
                                        training=True)
            loss = tf.reduce_mean(tf.abs(noises - predicted))
        variables = self.network.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        for ema_weight, weight in zip(self.ema_network.weights, self.network.weights, strict=True):
            ema_weight.assign(0.999 * ema_weight + 0.001 * weight)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @tf.function
    def reverse_diffusion(self, noise, steps: int, ema: bool = True):
        network = self.ema_network if ema else self.network
        size = 1.0 / steps
        next_noisy, images = noise, noise
        for step in range(steps):
            times = tf.ones((tf.shape(noise)[0], 1, 1, 1)) - step * size
            noise_rates, signal_rates = self.schedule(times)
            noises, images = self.denoise(next_noisy, noise_rates, signal_rates, network,
                                          training=False)
            next_noise_rates, next_signal_rates = self.schedule(times - size)
            next_noisy = next_signal_rates * images + next_noise_rates * noises
        return images

    def generate(self, noise, steps: int = 20, ema: bool = True) -> np.ndarray:
        x = self.reverse_diffusion(noise, steps, ema)
        x = self.normalizer.mean + x * tf.sqrt(self.normalizer.variance)
        return tf.clip_by_value(x, 0.0, 1.0).numpy()


class KerasIoGAN(keras.Model):
    """keras-io's DCGAN training step: discriminator on fakes (label 1) and reals (0)
    with noisy labels, then the generator on fresh codes labelled real."""

    def __init__(self, discriminator: keras.Model, generator: keras.Model, latent_dim: int,
                 seed: int):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_fn = keras.losses.BinaryCrossentropy()
        self.d_loss = keras.metrics.Mean(name="d_loss")
        self.g_loss = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self) -> list:
        return [self.d_loss, self.g_loss]

    def compile(self, d_optimizer, g_optimizer) -> None:
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def train_step(self, real):
        batch = tf.shape(real)[0]
        codes = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        both = tf.concat([self.generator(codes), real], axis=0)
        targets = tf.concat([tf.ones((batch, 1)), tf.zeros((batch, 1))], axis=0)
        targets += 0.05 * keras.random.uniform(tf.shape(targets), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(targets, self.discriminator(both))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights,
                                             strict=True))
        codes = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(tf.zeros((batch, 1)),
                                  self.discriminator(self.generator(codes)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        self.d_loss.update_state(d_loss)
        self.g_loss.update_state(g_loss)
        return {"d_loss": self.d_loss.result(), "g_loss": self.g_loss.result()}


def keras_io_dcgan(shape: tuple[int, int, int], seed: int, latent_dim: int = 128) -> KerasIoGAN:
    """keras-io's DCGAN networks for ``shape`` images (a side divisible by 8), compiled."""
    side = shape[0] // 8
    discriminator = keras.Sequential([
        keras.Input(shape),
        layers.Conv2D(64, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Flatten(), layers.Dropout(0.2), layers.Dense(1, activation="sigmoid"),
    ], name="keras_io_discriminator")
    generator = keras.Sequential([
        keras.Input((latent_dim,)),
        layers.Dense(side * side * 128), layers.Reshape((side, side, 128)),
        layers.Conv2DTranspose(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(256, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(512, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(shape[-1], 5, padding="same", activation="sigmoid"),
    ], name="keras_io_generator")
    model = KerasIoGAN(discriminator, generator, latent_dim, seed)
    model.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4))
    return model
