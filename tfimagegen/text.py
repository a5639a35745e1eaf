"""Captions as numbers: a word-level vocabulary built from the training captions.

Taught in ``notebooks/07_text_to_image.ipynb``. A caption is lower-cased and
split on spaces, colons, commas and hyphens (:func:`words`): "woman pilot:
medium-dark skin tone" is the seven words ``woman pilot medium dark skin
tone``. :class:`Vocabulary` numbers the words of the *training* captions
(sorted, so the same captions always give the same numbers) and turns a
caption into a fixed-length row of ids (:meth:`Vocabulary.encode`): id 1, the
start word, then the caption's words, then zeros (padding). The empty caption
is the start word alone: the "no caption" a text-conditioned model learns for
classifier-free guidance.

A word outside the vocabulary has no id: a model cannot draw a word it never
saw, so :meth:`Vocabulary.encode` refuses it, naming the word (or, with
``strict=False``, leaves it out: for scoring captions of held-out images).
Needs no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tfimagegen.files import write_json

__all__ = ["PAD", "START", "Vocabulary", "words", "VOCABULARY_FILE"]

PAD, START = 0, 1  # ids of the padding and of the start word every caption begins with
RESERVED = ("<pad>", "<start>")
VOCABULARY_FILE = "vocabulary.json"  # beside a text model, readable before TensorFlow loads
_SPLIT = re.compile(r"[\s:,\-]+")


def words(caption: str) -> list[str]:
    """A caption's words: lower-cased, split on spaces, colons, commas and hyphens.

    ``"kiss: woman, man, medium-light skin tone"`` →
    ``["kiss", "woman", "man", "medium", "light", "skin", "tone"]``.
    """
    return [w for w in _SPLIT.split(caption.lower()) if w]


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The known words (``words[i]`` has id ``i + 2``) and the row length ``length``.

    ``length`` counts the start word: a caption of up to ``length - 1`` words fits.
    """

    words: tuple[str, ...]
    length: int

    def __post_init__(self) -> None:
        if len(set(self.words)) != len(self.words) or any(w in RESERVED for w in self.words):
            raise ValueError("words must be distinct and must not be <pad> or <start>")
        if self.length < 2:
            raise ValueError(f"length must be >= 2 (the start word and one word), got "
                             f"{self.length}")

    @classmethod
    def build(cls, captions: Iterable[str]) -> Vocabulary:
        """Every word of ``captions`` (sorted), rows long enough for the longest of them.

        Raises:
            ValueError: no caption has a word.
        """
        split = [words(c) for c in captions]
        known = sorted({w for ws in split for w in ws})
        if not known:
            raise ValueError("captions must hold at least one word, got none")
        return cls(tuple(known), 1 + max(len(ws) for ws in split))

    @property
    def size(self) -> int:
        """Ids in use: the words, padding and the start word."""
        return len(self.words) + len(RESERVED)

    def unknown(self, caption: str) -> list[str]:
        """The words of ``caption`` this vocabulary lacks, in order."""
        known = self._ids()
        return [w for w in words(caption) if w not in known]

    def _ids(self) -> dict[str, int]:
        return {w: i + len(RESERVED) for i, w in enumerate(self.words)}

    def check(self, prompt: str) -> None:
        """Raise ``ValueError`` naming what is wrong with a prompt: empty, a word outside
        the vocabulary, or too many words."""
        if not words(prompt):
            raise ValueError("--prompt is empty; give a caption such as 'cat face' (the empty "
                             "caption is what guidance pushes away from)")
        missing = self.unknown(prompt)
        if missing:
            raise ValueError(f"--prompt: the word {missing[0]!r} is not in this model's "
                             f"vocabulary of {len(self.words):,} words (it never saw it in a "
                             "training caption, so it cannot draw it)")
        if len(words(prompt)) > self.length - 1:
            raise ValueError(f"--prompt has {len(words(prompt))} words; this model reads at most "
                             f"{self.length - 1}")

    def encode(self, captions: Iterable[str], strict: bool = True) -> np.ndarray:
        """int32 ``(N, length)`` rows: the start word, each word's id, then padding.

        ``""`` is the empty caption (the start word alone). ``strict=False`` leaves
        unknown words out and cuts long captions; ``strict`` refuses them.

        Raises:
            ValueError: (strict) an unknown word, named, or too many words.
        """
        ids, rows = self._ids(), []
        for caption in captions:
            ws = words(caption)
            if strict and ws:
                self.check(caption)
            row = [START] + [ids[w] for w in ws if w in ids][:self.length - 1]
            rows.append(row + [PAD] * (self.length - len(row)))
        return np.array(rows, np.int32).reshape(-1, self.length)

    def decode(self, row: Iterable[int]) -> str:
        """The words of an encoded row, joined by spaces (start and padding left out)."""
        return " ".join(self.words[i - len(RESERVED)] for i in row if i >= len(RESERVED))

    def to_json(self) -> dict:
        return {"words": list(self.words), "length": self.length}

    @classmethod
    def from_json(cls, record: dict) -> Vocabulary:
        return cls(tuple(record["words"]), int(record["length"]))

    def save(self, folder: Path) -> Path:
        """Write :data:`VOCABULARY_FILE` into ``folder`` (atomically); returns its path."""
        path = Path(folder) / VOCABULARY_FILE
        write_json(path, self.to_json())
        return path

    @classmethod
    def load(cls, folder: Path) -> Vocabulary:
        """The vocabulary a run folder keeps (:meth:`save`)."""
        return cls.from_json(json.loads((Path(folder) / VOCABULARY_FILE).read_text()))
