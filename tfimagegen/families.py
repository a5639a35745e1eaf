"""The model families a run folder can hold: one table, read by ``runs`` and the CLI.

Needs no TensorFlow: the command line checks a family's name and options
against this table before TensorFlow loads. Each family is a module with the
same four functions, which :mod:`tfimagegen.runs` calls and nothing else:

* ``train_setup(recipe, run, images, labels, build)`` → ``(model, dataset,
  validation)``, given the run's record (``run.json`` and ``"out"``, its
  folder) and its uint8 ``(N, H, W, C)`` training images: a compiled
  ``keras.Model`` for that shape with ``sample(z)``,
  ``output_range``, ``noise_shape`` (and ``num_classes``), the repeating
  training ``tf.data.Dataset``, and a validation dataset or ``None``;
* ``saved_model(model)`` → the ``keras.Model`` a finished run saves;
* ``noise_shape(saved)`` → the shape of one example's noise, e.g. ``(64,)``;
* ``generate(saved, noise, labels, **options)`` → uint8 images
  ``(n, H, W, C)`` of the run's shape; ``options`` are the recipe's
  ``sample_options``.

Its recipe (in :mod:`tfimagegen.recipes`, plain data) says which options a
run takes (``configure``) and which ``sample`` takes (``sample_options``).
A family that is not a generator (``generator=False``: CLIP, which other
runs read) has only the first two; ``train_setup`` then also takes the
training ``captions``, ``sample`` refuses its runs, and its run folder
has no sample grids.
Adding a family is its module, its recipe and one line below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from tfimagegen import recipes

__all__ = ["Family", "FAMILIES"]


@dataclass(frozen=True)
class Family:
    """A model family: where its code is, its default recipe, and its saved model's file name."""

    module: str
    recipe: type
    model_file: str
    generator: bool = True

    def load(self) -> ModuleType:
        """The family's module (imports TensorFlow)."""
        return importlib.import_module(self.module)


FAMILIES = {
    "gan": Family("tfimagegen.gan", recipes.GANRecipe, "generator.keras"),
    "vae": Family("tfimagegen.vae", recipes.VAERecipe, "vae.keras"),
    "diffusion": Family("tfimagegen.diffusion", recipes.DiffusionRecipe, "flow.keras"),
    "clip": Family("tfimagegen.clip", recipes.ClipRecipe, "clip.keras", generator=False),
}
