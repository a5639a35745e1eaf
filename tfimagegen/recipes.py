"""The default hyper-parameters of each model: plain data, no TensorFlow.

``gan.Recipe`` is :class:`GANRecipe` and ``vae.Recipe`` is :class:`VAERecipe`.
They live here, apart from the models, so that the command line can check a run
folder against them (``runs.check_run_folder``) before TensorFlow loads, and a
mistake costs one quick line instead of TensorFlow's start-up messages.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GANRecipe", "VAERecipe", "EPOCH_IMAGES"]

# An "epoch" of every recipe is a fixed number of optimiser steps, about 4,000
# images, the size of the embedded training set: the 59,000 Keras digits then
# bring more variety, not more minutes.
EPOCH_IMAGES = 4000


class _EpochBudget:
    """An epoch is a fixed number of optimiser steps, not one pass over the data."""

    batch_size: int

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch: :data:`EPOCH_IMAGES` images, rounded up to whole batches."""
        return -(-EPOCH_IMAGES // self.batch_size)


@dataclass(frozen=True)
class GANRecipe(_EpochBudget):
    """The default GAN recipe (``gan.Recipe``); the notebook and the CLI both read it.

    Chosen by quality per CPU-minute on 2 cores (``benchmarks/README.md`` has
    the sweeps): class labels for both networks (they cut the FD about fivefold
    in half the time), small batches for many updates per CPU-second, 3×3
    transposed convolutions (fast on CPU), and a generator wide enough to draw
    clean strokes.
    """

    latent_dim: int = 64  # 64 is plenty for digits; the tutorial's 100 trains no better
    num_classes: int = 10  # digits 0-9 given to both networks; 0: unconditional GAN
    width: int = 64  # generator: channels of the 14x14 layer (28x28 has half, 7x7 twice)
    d_width: int = 64  # discriminator: channels of its 7x7 layer (14x14 has half)
    kernel_size: int = 3  # 3x3 transposed convs run 2x faster than 4x4 on CPU (oneDNN)
    batch_size: int = 32  # small batches = more updates per CPU-second; 64 was worse
    learning_rate: float = 1e-3  # Adam, both networks; 3e-4 and 5e-4 learned slower here
    beta_1: float = 0.5  # DCGAN's momentum; 0.9 oscillates
    ema: float = 0.999  # weight averaging for sampling; 0.995 gave a worse FD
    epochs: int = 30  # 2-2.5 min on 2 CPU cores, whatever the data; FD flat from ~20
    quick_epochs: int = 2  # for tests


@dataclass(frozen=True)
class VAERecipe(_EpochBudget):
    """The default VAE recipe (``vae.Recipe``); the notebook and the CLI both read it.

    Chosen by test ELBO per CPU-minute on 2 cores (``benchmarks/README.md`` has
    the trials): a 10x higher learning rate than the TensorFlow tutorial's, and
    random 1-pixel shifts against overfitting the 4,000 embedded digits.
    """

    latent_dim: int = 16  # 16 is plenty for digits; 2 draws a map (notebook 03)
    width: int = 32  # channels of the 14x14 layers (7x7 have twice); 48 was no better per minute
    batch_size: int = 64
    learning_rate: float = 1e-3  # Adam; the tutorial's 1e-4 learns ~10x slower per step
    beta: float = 1.0  # weight of the KL term; 1 is the true ELBO
    shift: int = 1  # random shifts of up to 1 pixel while training: ~8 nats on 4,000 digits
    epochs: int = 110  # 3-4.5 min on 2 CPU cores, whatever the data; validation ELBO flat from ~90
    quick_epochs: int = 2  # for tests
