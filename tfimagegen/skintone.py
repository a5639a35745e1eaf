"""Which skin tone an emoji person is drawn in, read from its pixels with no model.

Lesson 07 asks a text-to-image model for "woman pilot: dark skin tone" when
it never saw that pair, and must tell whether the picture is dark-skinned.
A classifier trained on the glyphs would judge by what it learnt; this reader
only compares colours, with everything it needs read from the training glyphs:

* **where the skin is**, per base emoji: OpenMoji draws a base's five tone
  variants alike but for the skin, so the pixels whose colour varies across
  a base's training variants (std of more than :data:`SPREAD` levels in some
  channel) are its skin; the mask is eroded by one pixel, so blurred edges,
  where skin mixes with the black outline, do not count;
* **the five skin fills**: the median colour of each tone on those masks,
  over the bases whose five single-tone variants are all in training.

A picture's tone is then the fill nearest (in RGB) to the median colour of
its base's mask. On the held-out ``compositions`` glyphs it reads about 8 in
10 right, and as well on glyphs blurred as an autoencoder blurs them (a
Gaussian of 0.7–1 pixel); captions with two tones are not read.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import numpy as np

from tfimagegen.emoji import SKIN_TONES, base_and_tone

__all__ = ["SPREAD", "ToneReader", "single_tone"]

SPREAD = 25.0  # uint8 levels of colour std across a base's tone variants that mark skin


def single_tone(caption: str) -> tuple[str, int] | None:
    """``(base, tone index)`` of a caption with one skin tone, else ``None``.

    ``"woman pilot: dark skin tone"`` → ``("woman pilot", 4)``.
    """
    base, tone = base_and_tone(caption)
    return (base, SKIN_TONES.index(tone)) if tone in SKIN_TONES else None


@dataclasses.dataclass(frozen=True)
class ToneReader:
    """The five skin ``fills`` (float32 ``(5, 3)``, RGB 0–255, light to dark) and each
    base's skin ``masks`` (bool ``(S, S)``), read from training glyphs (:meth:`from_glyphs`)."""

    fills: np.ndarray
    masks: dict[str, np.ndarray]

    @classmethod
    def from_glyphs(cls, images: np.ndarray, captions: Sequence[str]) -> ToneReader:
        """Read the masks and fills from uint8 ``(N, S, S, 3)`` glyphs and their captions.

        A base needs two single-tone variants for a mask, all five to give fills.

        Raises:
            ValueError: no base has all five tones (no fills to compare with).
        """
        from scipy import ndimage

        images = np.asarray(images, np.float32)
        variants: dict[str, dict[int, int]] = collections.defaultdict(dict)
        for i, caption in enumerate(captions):
            found = single_tone(caption)
            if found:
                variants[found[0]][found[1]] = i
        masks, fills = {}, []
        for base, tones in variants.items():
            if len(tones) < 2:
                continue
            stack = images[list(tones.values())]
            skin = stack.std(0).max(-1) > SPREAD
            core = ndimage.binary_erosion(skin)
            mask = core if core.sum() >= 3 else skin
            if mask.sum() < 3:
                continue
            masks[base] = mask
            if len(tones) == len(SKIN_TONES):
                fills.append([np.median(images[tones[k]][mask], 0) for k in range(len(SKIN_TONES))])
        if not fills:
            raise ValueError("no base emoji has all five single skin tones among these glyphs; "
                             "the fills are read from those")
        return cls(np.median(np.array(fills), 0).astype(np.float32), masks)

    def read(self, images: np.ndarray, bases: Sequence[str]) -> np.ndarray:
        """The tone index (0 light … 4 dark) of each uint8 ``(N, S, S, 3)`` image of a person
        of ``bases[i]``: int ``(N,)``, -1 where the base has no mask."""
        images = np.asarray(images, np.float32)
        out = np.full(len(images), -1, np.int64)
        for i, (image, base) in enumerate(zip(images, bases, strict=True)):
            mask = self.masks.get(base)
            if mask is not None:
                colour = np.median(image[mask], 0)
                out[i] = int(np.argmin(((self.fills - colour) ** 2).sum(1)))
        return out

    def accuracy(self, images: np.ndarray, captions: Sequence[str]) -> tuple[float, int]:
        """``(share read right, count)`` over the images whose caption has one tone and
        whose base has a mask."""
        found = [single_tone(c) for c in captions]
        keep = [i for i, f in enumerate(found) if f and f[0] in self.masks]
        if not keep:
            return float("nan"), 0
        read = self.read(np.asarray(images)[keep], [found[i][0] for i in keep])
        return float(np.mean(read == np.array([found[i][1] for i in keep]))), len(keep)
