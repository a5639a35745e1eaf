"""Prompts no model has seen: does a picture follow the words of a held-out caption?

The ``emoji`` source's ``compositions`` split holds (person, skin tone) pairs
taken out of every model's training data whose other tones are in it
(:mod:`tfimagegen.emoji`). A text-to-image model asked for one of those
captions can only get it right by combining what it learnt: the role from
the siblings, the tone from other people. Three readings of each picture,
with the real glyphs of those captions as the ceiling:

1. **tone**, model-free: :class:`tfimagegen.skintone.ToneReader` (captions
   with one tone);
2. **role**: the nearest training image in pixels (RMS) is of the prompt's
   own base emoji, in any tone (bases OpenMoji draws alike count as one,
   :func:`tfimagegen.emoji.base_units`);
3. **tone by CLIP**: among the five tone variants of the prompt's base, the
   tiny CLIP ranks the prompted one first (reported, not a target: the same
   CLIP's text encoder conditions the generator).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfimagegen.emoji import SKIN_TONES, base_and_tone, base_units
from tfimagegen.metrics import nearest_training
from tfimagegen.skintone import ToneReader, single_tone

__all__ = ["role_right", "clip_tone_first", "measure"]


def _unit(caption: str) -> str:
    base = base_and_tone(caption)[0]
    return base_units().get(base, base)


def role_right(images: np.ndarray, prompts: Sequence[str], training: np.ndarray,
               training_captions: Sequence[str]) -> np.ndarray:
    """bool ``(N,)``: the nearest training image of image ``i`` is of ``prompts[i]``'s base."""
    nearest = nearest_training(images, training)[0]
    return np.array([_unit(training_captions[j]) == _unit(p)
                     for j, p in zip(nearest, prompts, strict=True)], bool)


def clip_tone_first(clip_model, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """bool ``(M,)`` over the prompts with one tone: the CLIP scores the prompted tone
    highest among the base's five tone variants (captions built from the base's name)."""
    keep = [i for i, p in enumerate(prompts) if single_tone(p)]
    if not keep:
        return np.zeros(0, bool)
    u = clip_model.embed_images(np.asarray(images)[keep])
    right = []
    for row, i in zip(u, keep, strict=True):
        base, tone = single_tone(prompts[i])
        v = clip_model.embed_captions([f"{base}: {t}" for t in SKIN_TONES], strict=False)
        right.append(int(np.argmax(v @ row)) == tone)
    return np.array(right, bool)


def measure(images: np.ndarray, prompts: Sequence[str], reader: ToneReader,
            training: np.ndarray, training_captions: Sequence[str], clip_model=None) -> dict:
    """``{"tone", "tone_n", "role", "role_n", "clip_tone"}``: shares in [0, 1] of the
    uint8 ``images`` drawn for ``prompts`` (and the counts they are over)."""
    tone, tone_n = reader.accuracy(images, prompts)
    role = role_right(images, prompts, training, training_captions)
    out = {"tone": tone, "tone_n": tone_n, "role": float(role.mean()), "role_n": len(role)}
    if clip_model is not None:
        out["clip_tone"] = float(clip_tone_first(clip_model, images, prompts).mean())
    return out
