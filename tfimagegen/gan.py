"""A class-conditional DCGAN for digits or colour images that trains well in minutes on a CPU.

Taught in ``notebooks/02_gan.ipynb``. Follows DCGAN (Radford et al. 2015,
arXiv:1511.06434) with the non-saturating loss of Goodfellow et al. 2014
(arXiv:1406.2661). By default both networks are told which digit an image
shows: the generator gets the label next to its noise (Mirza & Osindero 2014,
arXiv:1411.1784) and the discriminator scores the (image, label) pair with a
projection (Miyato & Koyama 2018, arXiv:1802.05637). ``num_classes=0`` gives
the classic unconditional DCGAN. The default recipe (:class:`Recipe`) was chosen
by measuring quality per CPU-minute; ``benchmarks/gan.py`` compares it with the
TensorFlow DCGAN tutorial's recipe and ``benchmarks/README.md`` records what
was tried.

Pixel range: the generator ends in ``tanh``, so images are float in [-1, 1]
(``tfimagegen.data.as_dataset(..., scale="tanh")``). Labels are int32 in
``[0, num_classes)``.
"""

from __future__ import annotations

from numbers import Integral

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfimagegen.data import DIGIT_SHAPE, check_image_shape
from tfimagegen.recipes import GANRecipe as Recipe  # plain data, importable without TensorFlow

__all__ = ["Recipe", "make_generator", "make_discriminator", "discriminator_loss",
           "generator_loss", "cycle_labels", "generator_inputs", "GAN", "build_gan"]

LABEL_DIM = 16  # size of the generator's label embedding
IMBALANCE = 1.5  # classes this much rarer than the commonest: fake labels follow the data


def _check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, Integral) \
            or num_classes < 0 or num_classes == 1:
        raise ValueError(f"num_classes must be 0 (unconditional) or an int >= 2, "
                         f"got {num_classes!r}")
    return int(num_classes)


def make_generator(latent_dim: int = Recipe.latent_dim, width: int = Recipe.width,
                   kernel_size: int = Recipe.kernel_size,
                   num_classes: int = Recipe.num_classes,
                   image_shape: tuple[int, int, int] = DIGIT_SHAPE) -> keras.Model:
    """(Noise, label) → image: float ``(batch, H, W, C)`` in [-1, 1] (digits: 28, 28, 1).

    Inputs: ``z``, float ``(batch, latent_dim)``, and, if ``num_classes > 0``,
    ``label``, int ``(batch,)`` in ``[0, num_classes)``, embedded in
    :data:`LABEL_DIM` numbers and joined to ``z``. Then a dense layer to an
    (H/4)×(W/4) feature map, two stride-2 transposed convolutions (7 → 14 → 28
    for digits), batch normalisation and ReLU, and a ``tanh`` output layer of
    ``C`` channels. Sides must be divisible by 4.
    """
    num_classes = _check_num_classes(num_classes)
    side_h, side_w, c = check_image_shape(image_shape)
    rows, cols = side_h // 4, side_w // 4
    z = keras.Input((latent_dim,), name="z")
    inputs, h = z, z
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [z, label]
        h = layers.Concatenate()([z, layers.Embedding(num_classes, LABEL_DIM,
                                                      name="label_embedding")(label)])
    h = layers.Dense(rows * cols * 2 * width, use_bias=False)(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    h = layers.Reshape((rows, cols, 2 * width))(h)
    h = layers.Conv2DTranspose(width, kernel_size, strides=2, padding="same", use_bias=False)(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    h = layers.Conv2DTranspose(width // 2, kernel_size, strides=2, padding="same",
                               use_bias=False)(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    image = layers.Conv2D(c, 3, padding="same", activation="tanh")(h)
    return keras.Model(inputs, image, name="generator")


def make_discriminator(width: int = Recipe.d_width,
                       num_classes: int = Recipe.num_classes,
                       image_shape: tuple[int, int, int] = DIGIT_SHAPE) -> keras.Model:
    """(Image, label) → realness logit: float ``(batch, H, W, C)`` in [-1, 1] → ``(batch, 1)``.

    Two stride-2 convolutions with LeakyReLU turn the image into features
    :math:`\\phi(x)`, and a dense layer scores them. No batch normalisation (it
    would let the discriminator compare real and fake images within a batch).
    With ``num_classes > 0`` it also takes ``label``, int ``(batch,)``, and adds
    the projection :math:`e_y \\cdot \\phi(x)`, a learned vector per class
    dotted with the features: high when the image looks like *that* digit.
    """
    num_classes = _check_num_classes(num_classes)
    side_h, side_w, c = check_image_shape(image_shape)
    image = keras.Input((side_h, side_w, c), name="image")
    h = layers.LeakyReLU(0.2)(layers.Conv2D(width // 2, 4, strides=2, padding="same")(image))
    h = layers.LeakyReLU(0.2)(layers.Conv2D(width, 4, strides=2, padding="same")(h))
    features = layers.Flatten()(h)
    logit = layers.Dense(1)(features)
    if not num_classes:
        return keras.Model(image, logit, name="discriminator")
    label = keras.Input((), dtype="int32", name="label")
    class_vector = layers.Embedding(num_classes, side_h // 4 * (side_w // 4) * width,
                                    name="projection")(label)
    logit = layers.Add()([logit, layers.Dot(axes=-1)([class_vector, features])])
    return keras.Model([image, label], logit, name="discriminator")


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Per-example ``-log D(x) - log(1 - D(G(z)))`` with ``D = sigmoid(logit)``; ``(batch,)``.

    ``softplus(-l) = -log sigmoid(l)`` and ``softplus(l) = -log(1 - sigmoid(l))``,
    computed stably from logits.
    """
    return tf.reshape(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits), [-1])


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating per-example ``-log D(G(z))``; ``(batch,)``."""
    return tf.reshape(tf.nn.softplus(-fake_logits), [-1])


def cycle_labels(num: int, num_classes: int = Recipe.num_classes) -> np.ndarray:
    """int32 ``(num,)`` labels ``0, 1, …, num_classes - 1, 0, 1, …``: every class equally often."""
    return np.arange(num, dtype=np.int32) % _check_num_classes(num_classes)


def generator_inputs(z, num_classes: int, labels=None):
    """What a generator takes: ``z`` itself, or ``[z, labels]`` for a conditional one.

    Args:
        z: float ``(n, latent_dim)``.
        num_classes: the generator's classes; 0 for an unconditional generator.
        labels: int ``(n,)`` in ``[0, num_classes)``; default :func:`cycle_labels`.

    Raises:
        ValueError: labels for an unconditional generator, or labels of the
            wrong shape or outside ``[0, num_classes)``.
    """
    num_classes = _check_num_classes(num_classes)
    if not num_classes:
        if labels is not None:
            raise ValueError("labels were given, but the generator is unconditional "
                             "(num_classes=0)")
        return z
    n = int(z.shape[0])
    labels = cycle_labels(n, num_classes) if labels is None else np.asarray(labels)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be {n} integers, one per latent point, got "
                         f"{labels.dtype} {labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got {labels.min()} to "
                         f"{labels.max()}")
    return [z, tf.constant(labels, tf.int32)]


@keras.saving.register_keras_serializable(package="tfimagegen")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other by ``fit``.

    ``fit`` takes batches of real images, float ``(batch, H, W, C)`` in
    [-1, 1], or, for a conditional GAN (``num_classes > 0``), ``(images,
    labels)`` pairs (``data.as_dataset(..., labels=...)``).

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
        num_classes: the classes both networks are given (0: unconditional);
            must match how the networks were built. Last, so that calls written
            before it existed keep their meaning.
    """

    output_range = (-1.0, 1.0)

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 latent_dim: int = Recipe.latent_dim, ema: float = Recipe.ema,
                 seed: int | None = None, num_classes: int = Recipe.num_classes, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        num_classes = _check_num_classes(num_classes)
        expected = 2 if num_classes else 1
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if len(net.inputs) != expected:
                raise ValueError(
                    f"{name} takes {len(net.inputs)} input(s), but a GAN with "
                    f"num_classes={num_classes} needs {expected} "
                    f"({'[image or z, label]' if num_classes else 'no label'}); build both "
                    "networks with the same num_classes")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.num_classes, self.ema, self.seed = (latent_dim, num_classes,
                                                                  ema, seed)
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._label_logits = None  # uniform fake labels (follow_label_frequencies changes it)
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

    @property
    def noise_shape(self) -> tuple[int]:
        """One example's noise: ``(latent_dim,)``."""
        return (self.latent_dim,)

    def build(self, input_shape=None) -> None:
        self.built = True  # the generator and discriminator were built with their Inputs

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker, self.real_score_tracker,
                self.fake_score_tracker]

    def call(self, inputs, training: bool = False) -> tf.Tensor:
        return self.generator(inputs, training=training)

    def sample(self, z: tf.Tensor, labels=None) -> tf.Tensor:
        """Images in [-1, 1] from latent points ``(n, latent_dim)``, with the EMA weights.

        ``labels``: int ``(n,)``, the digit each image should show (conditional
        GAN only); default ``0, 1, …, 9, 0, …`` (:func:`cycle_labels`).
        """
        return self.ema_generator(generator_inputs(z, self.num_classes, labels), training=False)

    def _with_labels(self, x: tf.Tensor, labels: tf.Tensor | None):
        """A network's input: ``x`` alone (unconditional) or ``[x, labels]``."""
        return x if labels is None else [x, labels]

    def follow_label_frequencies(self, labels: np.ndarray) -> None:
        """Draw the fakes' labels as often as each class occurs in ``labels``, the training
        labels, when the classes are imbalanced (the commonest more than :data:`IMBALANCE`
        times the rarest, or a class missing); otherwise they stay uniform.

        Either way every fake asks for a class the real data has, in about its share:
        on emoji, People & Body is 60 % of the images and gets 60 % of the fakes.
        """
        counts = np.bincount(np.asarray(labels), minlength=self.num_classes)[:self.num_classes]
        if counts.max() > IMBALANCE * counts.min():
            log_share = np.where(counts > 0, np.log(np.maximum(counts, 1) / counts.sum()), -1e9)
            self._label_logits = tf.constant(log_share[None], tf.float32)

    def _random_labels(self, batch: tf.Tensor) -> tf.Tensor | None:
        """int32 ``(batch,)`` labels for fakes (uniform, or the data's frequencies), or
        ``None`` (unconditional)."""
        if not self.num_classes:
            return None
        if self._label_logits is not None:
            return keras.random.categorical(self._label_logits, batch, dtype="int32",
                                            seed=self.seed_generator)[0]
        return keras.random.randint((batch,), 0, self.num_classes, seed=self.seed_generator,
                                    dtype="int32")

    def train_step(self, data) -> dict[str, tf.Tensor]:
        if self.num_classes:
            if not isinstance(data, (tuple, list)):
                raise ValueError(f"a conditional GAN (num_classes={self.num_classes}) trains "
                                 "on (images, labels) batches, got images only; use "
                                 "data.as_dataset(..., labels=...) or num_classes=0")
            real, real_labels = data[0], tf.cast(data[1], tf.int32)
        else:  # labels, if the data has them, are not used
            real, real_labels = (data[0] if isinstance(data, (tuple, list)) else data), None
        batch = tf.shape(real)[0]

        # 1. Discriminator: push real logits up and fake logits down.
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fake_labels = self._random_labels(batch)
        fake = self.generator(self._with_labels(z, fake_labels), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(self._with_labels(real, real_labels), training=True)
            fake_logits = self.discriminator(self._with_labels(fake, fake_labels), training=True)
            d_loss = tf.nn.compute_average_loss(discriminator_loss(real_logits, fake_logits))
        variables = self.discriminator.trainable_variables
        grads = tape.gradient(d_loss, variables)
        self.d_optimizer.apply_gradients(zip(grads, variables, strict=True))

        # 2. Generator: make the (updated) discriminator call fresh fakes real.
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fake_labels = self._random_labels(batch)
        with tf.GradientTape() as tape:
            fake = self.generator(self._with_labels(z, fake_labels), training=True)
            fake_logits = self.discriminator(self._with_labels(fake, fake_labels), training=True)
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
            "num_classes": self.num_classes,
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


def build_gan(recipe: Recipe | None = None, seed: int | None = None,
              strategy: tf.distribute.Strategy | None = None,
              generator: keras.Model | None = None,
              discriminator: keras.Model | None = None,
              image_shape: tuple[int, int, int] = DIGIT_SHAPE) -> GAN:
    """A compiled :class:`GAN` for ``recipe`` (default ``Recipe()``), under ``strategy``'s scope.

    ``image_shape`` ``(H, W, C)`` is the data's. ``generator`` and
    ``discriminator`` swap in networks of your own (with the inputs and
    outputs of :func:`make_generator` and :func:`make_discriminator` for
    ``recipe.num_classes``); by default the recipe's are built.
    """
    recipe = recipe or Recipe()
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        gan = GAN(generator or make_generator(recipe.latent_dim, recipe.width,
                                              recipe.kernel_size, recipe.num_classes,
                                              image_shape),
                  discriminator or make_discriminator(recipe.d_width, recipe.num_classes,
                                                      image_shape),
                  latent_dim=recipe.latent_dim, num_classes=recipe.num_classes, ema=recipe.ema,
                  seed=seed, name="gan")
        gan.build()
        gan.compile(
            d_optimizer=keras.optimizers.Adam(recipe.learning_rate, beta_1=recipe.beta_1),
            g_optimizer=keras.optimizers.Adam(recipe.learning_rate, beta_1=recipe.beta_1),
        )
    return gan


# The model-family functions (tfimagegen.families): how runs trains and samples a GAN.

def train_setup(recipe: Recipe, run: dict, images: np.ndarray, labels: np.ndarray | None,
                build=None) -> tuple[GAN, tf.data.Dataset, None]:
    """A compiled GAN and its training data, float [-1, 1] (with labels if conditional)."""
    from tfimagegen import data

    labels = labels if recipe.num_classes else None
    dataset = data.as_dataset(images, recipe.batch_size, seed=run["seed"], scale="tanh",
                              labels=labels, repeat=True)
    if build is not None:
        model = build(recipe, run["seed"])
    else:
        model = build_gan(recipe, run["seed"], image_shape=images.shape[1:])
    if labels is not None:
        model.follow_label_frequencies(labels)
    return model, dataset, None


def saved_model(model: GAN) -> keras.Model:
    """What a finished run saves: the EMA generator."""
    return model.ema_generator


def noise_shape(generator: keras.Model) -> tuple[int, ...]:
    """One example's noise for a saved generator: ``(latent_dim,)``."""
    return tuple(generator.inputs[0].shape[1:])


def generate(generator: keras.Model, z: tf.Tensor, labels: np.ndarray | None = None
             ) -> np.ndarray:
    """uint8 ``(n, H, W, C)`` images of a saved generator from ``z`` (and labels)."""
    from tfimagegen import images

    num_classes = 0 if labels is None else int(generator.get_layer("label_embedding").input_dim)
    x = generator.predict(generator_inputs(z, num_classes, labels), batch_size=1000, verbose=0)
    return images.to_uint8(x, value_range=GAN.output_range)
