"""A tiny CLIP: images and captions in one embedding space, learnt contrastively.

Taught in ``notebooks/07_text_to_image.ipynb``. Radford et al. 2021
(arXiv:2103.00020) train an image encoder and a text encoder jointly so that
an image and its own caption have similar embeddings and every other pairing
of the batch does not. For a batch of :math:`B` pairs, with unit-length
embeddings :math:`u_i` (images) and :math:`v_j` (captions) and a learnt
temperature :math:`\\tau`, the logits are :math:`s_{ij} = u_i \\cdot v_j /
\\tau`, and the loss is the symmetric InfoNCE (:func:`contrastive_loss`):

.. math:: \\mathcal{L} = \\tfrac{1}{2B} \\sum_i \\Big(
    -\\log \\frac{e^{s_{ii}}}{\\sum_j e^{s_{ij}}}
    -\\log \\frac{e^{s_{ii}}}{\\sum_j e^{s_{ji}}} \\Big),

the cross-entropy of picking the right caption for each image and the right
image for each caption. CLIP learns :math:`\\log(1/\\tau)` from 0.07 and caps
:math:`1/\\tau` at 100; so does :class:`CLIP`.

CLIP is not a generator. Its text encoder (:func:`make_text_encoder`: word
and position embeddings and a small transformer, float ``(batch, length,
width)`` per word) is what a text-conditioned latent flow reads
(:mod:`tfimagegen.textflow`); its two embeddings score how well an image
follows a caption (:func:`retrieval`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfimagegen.recipes import ClipRecipe as Recipe  # plain data, importable without TF
from tfimagegen.text import PAD, VOCABULARY_FILE, Vocabulary

__all__ = ["Recipe", "TokenEmbedding", "TransformerBlock", "MaskedMean", "make_text_encoder",
           "make_image_encoder", "contrastive_loss", "CLIP", "build_clip", "retrieval",
           "MAX_SCALE"]

MAX_SCALE = 100.0  # 1 / temperature is capped here, as in CLIP


@keras.saving.register_keras_serializable(package="tfimagegen")
class TokenEmbedding(layers.Layer):
    """int ``(batch, length)`` word ids → float ``(batch, length, dim)``: a learnt vector
    per word plus a learnt vector per position (the order of the words)."""

    def __init__(self, vocabulary_size: int, length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.length, self.dim = vocabulary_size, length, dim
        self.words = layers.Embedding(vocabulary_size, dim, name="words")
        self.positions = layers.Embedding(length, dim, name="positions")

    def build(self, input_shape) -> None:
        self.words.build(input_shape)
        self.positions.build((self.length,))

    def call(self, tokens: tf.Tensor) -> tf.Tensor:
        return self.words(tokens) + self.positions(tf.range(tf.shape(tokens)[1]))[None]

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "length": self.length, "dim": self.dim}


def key_mask(tokens: tf.Tensor, queries: tf.Tensor) -> tf.Tensor:
    """bool ``(batch, queries, length)``: every query may look at every word but padding."""
    words = tf.not_equal(tokens, PAD)[:, None, :]
    return tf.broadcast_to(words, [tf.shape(tokens)[0], tf.shape(queries)[1], tf.shape(tokens)[1]])


@keras.saving.register_keras_serializable(package="tfimagegen")
class TransformerBlock(layers.Layer):
    """One pre-norm transformer block over words: self-attention (padding masked), then an MLP,
    each added to its input. ``(features (batch, length, dim), tokens (batch, length))`` →
    features, same shape."""

    def __init__(self, dim: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got {dim} and {heads}")
        self.dim, self.heads = dim, heads
        self.norm1 = layers.LayerNormalization(name="norm1")
        self.attention = layers.MultiHeadAttention(heads, dim // heads, name="attention")
        self.norm2 = layers.LayerNormalization(name="norm2")
        self.hidden = layers.Dense(2 * dim, activation="gelu", name="hidden")
        self.out = layers.Dense(dim, name="out")

    def build(self, x_shape, tokens_shape=None) -> None:
        self.norm1.build(x_shape)
        self.attention.build(x_shape, x_shape)
        self.norm2.build(x_shape)
        self.hidden.build(x_shape)
        self.out.build((*x_shape[:-1], 2 * self.dim))

    def call(self, x: tf.Tensor, tokens: tf.Tensor) -> tf.Tensor:
        h = self.norm1(x)
        x = x + self.attention(h, h, attention_mask=key_mask(tokens, x))
        return x + self.out(self.hidden(self.norm2(x)))

    def compute_output_shape(self, x_shape, tokens_shape=None):
        return x_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "heads": self.heads}


@keras.saving.register_keras_serializable(package="tfimagegen")
class MaskedMean(layers.Layer):
    """The mean of the word features that are not padding: ``(batch, length, dim)`` and
    tokens ``(batch, length)`` → ``(batch, dim)``."""

    def call(self, features: tf.Tensor, tokens: tf.Tensor) -> tf.Tensor:
        keep = tf.cast(tf.not_equal(tokens, PAD), features.dtype)[..., None]
        return tf.reduce_sum(features * keep, 1) / tf.maximum(tf.reduce_sum(keep, 1), 1.0)

    def compute_output_shape(self, features_shape, tokens_shape=None):
        return (features_shape[0], features_shape[-1])


def make_text_encoder(vocabulary: Vocabulary, width: int = Recipe.text_width,
                      heads: int = Recipe.heads, depth: int = Recipe.text_layers) -> keras.Model:
    """int32 ``(batch, vocabulary.length)`` word ids (:meth:`Vocabulary.encode`) → float
    ``(batch, length, width)``: one feature vector per word, each having seen the others
    (``depth`` :class:`TransformerBlock`), normalised. Padding's features are computed but
    every reader masks them out."""
    tokens = keras.Input((vocabulary.length,), dtype="int32", name="tokens")
    h = TokenEmbedding(vocabulary.size, vocabulary.length, width, name="embedding")(tokens)
    for i in range(depth):
        h = TransformerBlock(width, heads, name=f"block{i + 1}")(h, tokens)
    features = layers.LayerNormalization(name="final_norm")(h)
    return keras.Model(tokens, features, name="text_encoder")


def make_image_encoder(image_shape: tuple[int, int, int], width: int = Recipe.width,
                       embed_dim: int = Recipe.embed_dim) -> keras.Model:
    """float ``(batch, H, W, C)`` images in [-1, 1] → float ``(batch, embed_dim)``.

    A small CNN: a 3×3 stem, then three stages that halve the side and double the
    channels (``width``, ``2 * width``, ``4 * width``), each two 3×3 convolutions with
    group norm and SiLU; the mean over positions; a linear projection.
    """
    x = keras.Input(tuple(int(d) for d in image_shape), name="images")
    h = layers.Conv2D(width, 3, padding="same", name="stem")(x)
    for stage, w in enumerate((width, 2 * width, 4 * width), start=1):
        h = layers.Conv2D(w, 3, strides=2, padding="same", name=f"down{stage}")(h)
        h = layers.Activation("silu")(layers.GroupNormalization(8)(h))
        h = layers.Conv2D(w, 3, padding="same", name=f"conv{stage}")(h)
        h = layers.Activation("silu")(layers.GroupNormalization(8)(h))
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, layers.Dense(embed_dim, name="projection")(h), name="image_encoder")


def contrastive_loss(image_embeddings: tf.Tensor, text_embeddings: tf.Tensor,
                     scale: tf.Tensor) -> tf.Tensor:
    """Per-pair symmetric InfoNCE: float ``(batch,)``; pair ``i`` is image ``i``, caption ``i``.

    Both embeddings ``(batch, dim)`` are made unit-length here; ``scale`` is
    :math:`1/\\tau`. The mean of the result is CLIP's loss.
    """
    u = tf.math.l2_normalize(image_embeddings, axis=-1)
    v = tf.math.l2_normalize(text_embeddings, axis=-1)
    logits = scale * tf.matmul(u, v, transpose_b=True)
    right = tf.range(tf.shape(logits)[0])
    image_to_text = tf.nn.sparse_softmax_cross_entropy_with_logits(right, logits)
    text_to_image = tf.nn.sparse_softmax_cross_entropy_with_logits(right, tf.transpose(logits))
    return 0.5 * (image_to_text + text_to_image)


@keras.saving.register_keras_serializable(package="tfimagegen")
class CLIP(keras.Model):
    """An image encoder and a text encoder trained by :func:`contrastive_loss` with ``fit``.

    ``fit`` takes batches of ``(images, tokens)``: float ``(batch, H, W, C)``
    in [-1, 1] and int32 ``(batch, length)`` rows of :meth:`Vocabulary.encode`.
    A caption's embedding is the mean of its word features (:class:`MaskedMean`),
    projected to the image embedding's size. The loss is averaged over the
    *global* batch, so the same code trains on several replicas.

    Args:
        image_encoder: from :func:`make_image_encoder`.
        text_encoder: from :func:`make_text_encoder`.
        vocabulary: :meth:`Vocabulary.to_json` of the words ``text_encoder`` reads.
        temperature: the starting :math:`\\tau` (learnt from there).
    """

    def __init__(self, image_encoder: keras.Model, text_encoder: keras.Model, vocabulary: dict,
                 temperature: float = Recipe.temperature, **kwargs):
        super().__init__(**kwargs)
        if not 0 < temperature <= 1:
            raise ValueError(f"temperature must be in (0, 1], got {temperature!r}")
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.vocabulary = Vocabulary.from_json(vocabulary)
        self.temperature = float(temperature)
        embed_dim = int(image_encoder.outputs[0].shape[-1])
        self.pool = MaskedMean(name="pool")
        self.text_projection = layers.Dense(embed_dim, name="text_projection")
        self.text_projection.build((None, int(text_encoder.outputs[0].shape[-1])))
        self.log_scale = self.add_weight(shape=(), name="log_scale",
                                         initializer=keras.initializers.Constant(
                                             math.log(1.0 / temperature)))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    def build(self, input_shape=None) -> None:
        self.built = True  # the encoders were built with their Inputs

    def compile(self, optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        super().compile(optimizer=optimizer, **kwargs)
        # built now, so BackupAndRestore (and loading) can restore its state
        optimizer.build(self.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.accuracy_tracker]

    @property
    def scale(self) -> tf.Tensor:
        """:math:`1/\\tau`, at most :data:`MAX_SCALE`."""
        return tf.minimum(tf.exp(self.log_scale), MAX_SCALE)

    def encode_text(self, tokens: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Caption embeddings ``(batch, embed_dim)`` (not normalised) of int32 rows."""
        tokens = tf.cast(tokens, tf.int32)
        features = self.text_encoder(tokens, training=training)
        return self.text_projection(self.pool(features, tokens))

    def call(self, inputs, training: bool = False):
        """``(images, tokens)`` → both embeddings; images alone → the image embeddings."""
        if not isinstance(inputs, (tuple, list)):
            return self.image_encoder(inputs, training=training)
        images, tokens = inputs
        return (self.image_encoder(images, training=training),
                self.encode_text(tokens, training=training))

    def _track(self, per_pair, u, v) -> dict[str, tf.Tensor]:
        self.loss_tracker.update_state(per_pair)
        picked = tf.argmax(tf.matmul(u, v, transpose_b=True), axis=1, output_type=tf.int32)
        self.accuracy_tracker.update_state(
            tf.cast(tf.equal(picked, tf.range(tf.shape(u)[0])), tf.float32))
        return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()}

    def train_step(self, data) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            u, v = self((data[0], data[1]), training=True)
            per_pair = contrastive_loss(u, v, self.scale)
            loss = tf.nn.compute_average_loss(per_pair)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return self._track(per_pair, u, v)

    def test_step(self, data) -> dict[str, tf.Tensor]:
        u, v = self((data[0], data[1]), training=False)
        return self._track(contrastive_loss(u, v, self.scale), u, v)

    def embed_images(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Unit-length embeddings float32 ``(N, embed_dim)`` of uint8 ``(N, H, W, C)`` images."""
        x = np.asarray(images, np.float32) / 127.5 - 1.0
        out = [self.image_encoder(x[i:i + batch_size], training=False).numpy()
               for i in range(0, len(x), batch_size)]
        return _unit(np.concatenate(out) if out else np.zeros((0, self.embed_dim), np.float32))

    def embed_captions(self, captions, strict: bool = True, batch_size: int = 500) -> np.ndarray:
        """Unit-length embeddings float32 ``(N, embed_dim)`` of captions (see
        :meth:`Vocabulary.encode` for ``strict``)."""
        tokens = self.vocabulary.encode(captions, strict=strict)
        out = [self.encode_text(tokens[i:i + batch_size]).numpy()
               for i in range(0, len(tokens), batch_size)]
        return _unit(np.concatenate(out) if out else np.zeros((0, self.embed_dim), np.float32))

    @property
    def embed_dim(self) -> int:
        return int(self.image_encoder.outputs[0].shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(),
                "image_encoder": keras.saving.serialize_keras_object(self.image_encoder),
                "text_encoder": keras.saving.serialize_keras_object(self.text_encoder),
                "vocabulary": self.vocabulary.to_json(), "temperature": self.temperature}

    def get_compile_config(self) -> dict:
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer)}

    def compile_from_config(self, config: dict) -> None:
        self.compile(keras.saving.deserialize_keras_object(config["optimizer"]))

    @classmethod
    def from_config(cls, config: dict) -> CLIP:
        config = dict(config)
        for key in ("image_encoder", "text_encoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def build_clip(recipe: Recipe | None = None, *, vocabulary: Vocabulary,
               image_shape: tuple[int, int, int],
               strategy: tf.distribute.Strategy | None = None) -> CLIP:
    """A compiled :class:`CLIP` for ``recipe`` (default ``Recipe()``), images of
    ``image_shape`` and captions of ``vocabulary``."""
    recipe = recipe or Recipe()
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = CLIP(make_image_encoder(image_shape, recipe.width, recipe.embed_dim),
                     make_text_encoder(vocabulary, recipe.text_width, recipe.heads,
                                       recipe.text_layers),
                     vocabulary.to_json(), temperature=recipe.temperature, name="clip")
        model.build()
        model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate))
    return model


def retrieval(image_embeddings: np.ndarray, caption_embeddings: np.ndarray,
              ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """How often the right partner ranks in the top ``k``, each way, for matched rows.

    Row ``i`` of both (unit-length, ``(N, dim)``) belongs together. Returns
    ``{"caption_to_image_top1": ..., "image_to_caption_top5": ..., ...}``, shares in
    [0, 1]; chance is ``k / N``.
    """
    if image_embeddings.shape != caption_embeddings.shape or not len(image_embeddings):
        raise ValueError(f"embeddings must be two matching (N, dim) arrays with N >= 1, got "
                         f"{image_embeddings.shape} and {caption_embeddings.shape}")
    similarity = image_embeddings @ caption_embeddings.T  # (images, captions)
    scores = {}
    for name, matrix in (("image_to_caption", similarity), ("caption_to_image", similarity.T)):
        right = np.diag(matrix)
        rank = (matrix > right[:, None]).sum(1)  # how many beat the right partner
        for k in ks:
            scores[f"{name}_top{k}"] = float(np.mean(rank < k))
    return scores


# The model-family functions (tfimagegen.families). CLIP is not a generator: it has no
# noise_shape or generate, and ``sample`` refuses its runs before loading them.


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` → float32 in [-1, 1], as the image encoder reads them."""
    return np.asarray(images, np.float32) / 127.5 - 1.0


def train_setup(recipe: Recipe, run: dict, images: np.ndarray, labels: np.ndarray | None,
                build=None, *, captions: tuple[str, ...] = ()
                ) -> tuple[CLIP, tf.data.Dataset, tf.data.Dataset | None]:
    """A compiled :class:`CLIP`, the repeating dataset of (image, caption) pairs, and the
    validation split's pairs if the source has one with captions.

    The vocabulary comes from the training ``captions`` and is written to the run
    folder (``vocabulary.json``), where ``train diffusion --text`` and ``sample
    --prompt`` read it before TensorFlow loads. Validation captions keep only known
    words. Labels are not used.

    Raises:
        RunError: a resumed run whose captions were others (its vocabulary differs).
    """
    from pathlib import Path

    from tfimagegen import rundata
    from tfimagegen.runfolder import RunError

    if len(captions) != len(images):
        raise ValueError(f"CLIP trains on one caption per image, got {len(captions)} captions "
                         f"for {len(images)} images")
    vocabulary = Vocabulary.build(captions)
    out = Path(run["out"])
    if (out / VOCABULARY_FILE).is_file() and Vocabulary.load(out) != vocabulary:
        raise RunError(f"{out} holds a CLIP run trained on other captions (its "
                       f"{VOCABULARY_FILE} differs); rerun with the captions it was made "
                       "with, or choose another --out")
    vocabulary.save(out)
    tokens = vocabulary.encode(captions)
    seed = run["seed"]
    dataset = tf.data.Dataset.from_tensor_slices((scale_images(images), tokens)).shuffle(
        len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.repeat().batch(recipe.batch_size, drop_remainder=True).prefetch(
        tf.data.AUTOTUNE)
    validation = None
    other = rundata.other_split(run, "validation", run["quick"])
    if other is not None and other.captions:
        pairs = (scale_images(other.images), vocabulary.encode(other.captions, strict=False))
        validation = tf.data.Dataset.from_tensor_slices(pairs).batch(recipe.batch_size)
    model = build(recipe, seed) if build is not None else build_clip(
        recipe, vocabulary=vocabulary, image_shape=images.shape[1:])
    return model, dataset, validation


def saved_model(model: CLIP) -> CLIP:
    """What a finished run saves: the whole model (both encoders and the vocabulary)."""
    return model
