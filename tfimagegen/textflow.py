"""Text into a latent flow: cross-attention from the code to a caption's words.

Taught in ``notebooks/07_text_to_image.ipynb``. Stable Diffusion's U-Net
reads its prompt by cross-attention (Rombach et al. 2022, arXiv:2112.10752,
§3.3): at each position of the feature map, a query asks the caption's word
features (keys and values, from a frozen text encoder) which words matter
here, and adds what they say. Here the text encoder is a tiny CLIP's
(:mod:`tfimagegen.clip`), the U-Net is
:func:`tfimagegen.diffusion.make_latent_unet`, and :class:`CrossAttention`
is the layer it adds after each residual block. The simpler alternative,
FiLM, adds the caption's *mean* word feature to the time embedding: one
vector for the whole image, so "woman" and "dark skin tone" arrive mixed.

The empty caption (the start word alone, :mod:`tfimagegen.text`) is the null
condition: training drops it in for a share of the images, so sampling can
guide away from it (classifier-free guidance, as for classes).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from tfimagegen.clip import MaskedMean, key_mask

__all__ = ["CrossAttention", "text_inputs", "freeze", "CONDITIONINGS"]

CONDITIONINGS = ("cross-attention", "film")


@keras.saving.register_keras_serializable(package="tfimagegen")
class CrossAttention(layers.Layer):
    """A feature map attends to words: ``(h (batch, H, W, C), words (batch, length, D),
    tokens (batch, length))`` → ``h`` plus what the words say, same shape.

    Group norm, then ``heads``-head attention with queries from each of the
    ``H * W`` positions and keys and values from the words (padding masked
    out), then a linear map that starts at zero, so an untrained layer passes
    ``h`` through unchanged.
    """

    def __init__(self, heads: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads

    def build(self, h_shape, words_shape, tokens_shape=None) -> None:
        channels = int(h_shape[-1])
        if channels % self.heads:
            raise ValueError(f"channels must be divisible by heads, got {channels} and "
                             f"{self.heads}")
        self.norm = layers.GroupNormalization(min(8, channels), name="norm")
        self.norm.build(h_shape)
        self.attention = layers.MultiHeadAttention(self.heads, channels // self.heads,
                                                   name="attention")
        self.attention.build((None, None, channels), words_shape)
        self.out = layers.Dense(channels, kernel_initializer="zeros", name="out")
        self.out.build((None, None, channels))

    def attend(self, h: tf.Tensor, words: tf.Tensor, tokens: tf.Tensor):
        """``(update, scores)``: what is added to ``h`` and the attention weights, float
        ``(batch, heads, H * W, length)``, each row a distribution over the words."""
        if not self.built:  # called before the layer itself, as a lesson cell may
            self.build(h.shape, words.shape, tokens.shape)
        shape = tf.shape(h)
        queries = tf.reshape(self.norm(h), [shape[0], shape[1] * shape[2], h.shape[-1]])
        said, scores = self.attention(queries, words, attention_mask=key_mask(tokens, queries),
                                      return_attention_scores=True)
        return tf.reshape(self.out(said), shape), scores

    def call(self, h: tf.Tensor, words: tf.Tensor, tokens: tf.Tensor) -> tf.Tensor:
        return h + self.attend(h, words, tokens)[0]

    def compute_output_shape(self, h_shape, words_shape=None, tokens_shape=None):
        return h_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads}


def freeze(model: keras.Model) -> None:
    """Make every weight of ``model`` untrainable, those of layers inside its layers too
    (a loaded layer's own sublayers keep their flag otherwise)."""
    model.trainable = False
    for variable in model.weights:
        variable.trainable = False


def text_inputs(text_encoder: keras.Model | None, tokens, conditioning: str):
    """How :func:`tfimagegen.diffusion.make_latent_unet` reads ``tokens``.

    Returns ``(attend, pooled)``: ``attend(h)`` adds a :class:`CrossAttention`
    (cross-attention) or passes ``h`` through (FiLM, or no text); ``pooled`` is
    the caption's mean word feature for FiLM, else ``None``. The text encoder is
    frozen: the flow learns to read it, not to change it.
    """
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning must be one of {', '.join(CONDITIONINGS)}, got "
                         f"{conditioning!r}")
    if text_encoder is None:
        return (lambda h: h), None
    freeze(text_encoder)
    words = text_encoder(tokens)
    if conditioning == "film":
        return (lambda h: h), MaskedMean(name="caption_mean")(words, tokens)
    return (lambda h: CrossAttention()(h, words, tokens)), None
