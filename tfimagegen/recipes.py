"""The default hyper-parameters of each model: plain data, no TensorFlow.

``gan.Recipe`` is :class:`GANRecipe` and ``vae.Recipe`` is :class:`VAERecipe`.
They live here, apart from the models, so that the command line can check a run
folder against them (``runs.check_run_folder``) before TensorFlow loads, and a
mistake costs one quick line instead of TensorFlow's start-up messages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

__all__ = ["GANRecipe", "VAERecipe", "DiffusionRecipe", "ClipRecipe", "StudentRecipe",
           "EPOCH_IMAGES"]

# An "epoch" of every recipe is a fixed number of optimiser steps, about 4,000
# images, the size of the embedded training set: the 59,000 Keras digits then
# bring more variety, not more minutes.
EPOCH_IMAGES = 4000


class _EpochBudget:
    """What every recipe shares: an epoch budget, and the options ``train`` and ``sample`` take.

    An epoch is a fixed number of optimiser steps, not one pass over the data.
    """

    batch_size: int
    sample_options: ClassVar[tuple[str, ...]] = ()  # options of ``sample`` beyond num/seed/label
    legacy: ClassVar[dict] = {}  # recipe settings of runs recorded before a field existed

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch: :data:`EPOCH_IMAGES` images (or the recipe's own
        ``epoch_images``), rounded up to whole batches."""
        return -(-getattr(self, "epoch_images", EPOCH_IMAGES) // self.batch_size)

    @property
    def needs_captions(self) -> bool:
        """Whether the training data must have a caption per image (CLIP, a text model)."""
        return bool(getattr(self, "text", ""))

    @property
    def needs_labels(self) -> bool:
        """Whether the training data must have labels (a class-conditional model)."""
        return bool(getattr(self, "num_classes", 0))

    def configure(self, *, latent_dim: int | None = None, unconditional: bool = False,
                  latent: str | None = None, downsample: int | None = None,
                  latent_channels: int | None = None, text: str | None = None):
        """This recipe with ``train``'s options applied.

        Raises:
            ValueError: an option this family does not take, or a bad value;
                the message names the option.
        """
        recipe = self
        if latent is not None:
            raise ValueError("--latent is for diffusion runs")
        if text is not None:
            raise ValueError("--text is for diffusion runs (with --latent)")
        if (downsample, latent_channels) != (None, None):
            raise ValueError(f"--{'downsample' if downsample is not None else 'latent-channels'}"
                             " is for vae runs (a spatial autoencoder)")
        if latent_dim is not None:
            if not hasattr(self, "latent_dim"):
                raise ValueError("--latent-dim is for gan and vae runs")
            if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
                raise ValueError(f"--latent-dim must be an int >= 1, got {latent_dim!r}")
            recipe = replace(recipe, latent_dim=latent_dim)
        if unconditional:
            if not hasattr(self, "num_classes"):
                raise ValueError("--unconditional is for gan and diffusion runs; this model "
                                 "is told no class")
            recipe = replace(recipe, num_classes=0)
        return recipe

    def for_data(self, *, num_classes: int, binary: bool, flat_code: bool = False):
        """This recipe fitted to the training data: a conditional model is told its
        ``num_classes`` classes (those the data has; 0 keeps it unconditional).
        ``binary`` (digits) and ``flat_code`` (``--latent-dim`` was given) matter to
        the VAE."""
        if getattr(self, "num_classes", 0):
            return replace(self, num_classes=num_classes)
        return self


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

    legacy: ClassVar[dict] = {"num_classes": 0}  # GAN runs made before labels were added


@dataclass(frozen=True)
class VAERecipe(_EpochBudget):
    """The default VAE recipe (``vae.Recipe``); the notebook and the CLI both read it.

    Chosen by test ELBO per CPU-minute on 2 cores (``benchmarks/README.md`` has
    the trials): a 10x higher learning rate than the TensorFlow tutorial's, and
    random 1-pixel shifts against overfitting the 4,000 embedded digits.
    """

    latent_dim: int = 16  # flat latent: 16 is plenty for digits; 2 draws a map (notebook 03)
    width: int = 32  # channels of the 14x14 layers (7x7 have twice); 48 was no better per minute
    batch_size: int = 64
    learning_rate: float = 1e-3  # Adam; the tutorial's 1e-4 learns ~10x slower per step
    beta: float = 1.0  # weight of the KL term; 1 is the true ELBO
    shift: int = 1  # random shifts of up to 1 pixel while training: ~8 nats on 4,000 digits
    epochs: int = 110  # 3-4.5 min on 2 CPU cores, whatever the data; validation ELBO flat from ~90
    quick_epochs: int = 2  # for tests
    likelihood: str = "bernoulli"  # binarised digits; "gaussian": dequantised colour (for_data)
    downsample: int = 0  # 0: a flat latent_dim code; 4 or 8: a spatial (side/f)^2 x channels code
    latent_channels: int = 4  # channels of a spatial code (the latent-diffusion paper's KL-f4: 3)

    legacy: ClassVar[dict] = {"likelihood": "bernoulli", "downsample": 0, "latent_channels": 4}
    DOWNSAMPLES: ClassVar[tuple[int, ...]] = (4, 8)

    def configure(self, *, latent_dim: int | None = None, unconditional: bool = False,
                  latent: str | None = None, downsample: int | None = None,
                  latent_channels: int | None = None, text: str | None = None) -> VAERecipe:
        recipe = super().configure(latent_dim=latent_dim, unconditional=unconditional,
                                   latent=latent, text=text)
        if downsample is not None:
            if downsample not in self.DOWNSAMPLES:
                raise ValueError(f"--downsample must be 4 or 8, got {downsample!r}")
            if latent_dim is not None:
                raise ValueError("--latent-dim is the size of a flat code; a spatial "
                                 "autoencoder (--downsample) takes --latent-channels")
            recipe = replace(recipe, downsample=downsample)
        if latent_channels is not None:
            if isinstance(latent_channels, bool) or not isinstance(latent_channels, int) \
                    or not 1 <= latent_channels <= 64:
                raise ValueError(f"--latent-channels must be an int in [1, 64], got "
                                 f"{latent_channels!r}")
            if latent_dim is not None:
                raise ValueError("--latent-channels is for a spatial code; --latent-dim sets a "
                                 "flat one")
            recipe = replace(recipe, latent_channels=latent_channels)
        return recipe

    def for_data(self, *, num_classes: int, binary: bool, flat_code: bool = False
                 ) -> VAERecipe:
        """Binarised digits keep the Bernoulli decoder and the flat code. Any other
        images get a Gaussian likelihood on dequantised pixels and, unless
        ``flat_code`` (``--latent-dim`` was given), a spatial code downsampled 4 times
        (the one latent diffusion needs); random shifts are for digits only."""
        if binary:
            return self
        recipe = replace(self, likelihood="gaussian", shift=0)
        if not flat_code and not recipe.downsample:
            recipe = replace(recipe, downsample=4)
        return recipe


@dataclass(frozen=True)
class DiffusionRecipe(_EpochBudget):
    """The default flow-matching recipe (``diffusion.Recipe``), in pixel space.

    ``latent`` names a finished VAE run folder: then the model works in that
    VAE's latent space (:meth:`for_latents`). Chosen by quality per CPU-minute
    on 2 cores; ``benchmarks/README.md`` has what was tried.
    """

    latent: str = ""  # a VAE run folder: train in its latent space; "": in pixels
    text: str = ""  # a CLIP run folder: draw what a caption says, read by its text encoder
    conditioning: str = "cross-attention"  # text: how captions enter the network ("film")
    num_classes: int = 10  # digits 0-9 given to the network; 0: unconditional
    width: int = 32  # U-Net: channels at 14x14 (7x7 has twice); latent MLP: units per layer
    batch_size: int = 64
    learning_rate: float = 2e-3  # Adam
    label_dropout: float = 0.1  # share of labels hidden in training, for guidance
    ema: float = 0.999
    steps: int = 20  # sampler steps
    guidance: float = 2.0  # classifier-free guidance weight w that sample uses by default
    guidance_below: float = 0.7  # guidance acts only at t <= this (1: the whole path)
    sampler: str = "euler"
    decoder_epochs: int = 0  # latent: epochs sharpening the VAE's decoder first
    epoch_images: int = EPOCH_IMAGES  # images per epoch (each epoch ends with a sample grid)
    epochs: int = 60  # about 8 min on 2 CPU cores
    quick_epochs: int = 2  # for tests

    sample_options: ClassVar[tuple[str, ...]] = ("steps", "guidance")

    def for_latents(self, vae_run: str, spatial: bool = False) -> DiffusionRecipe:
        """The recipe in the latent space of the VAE run folder ``vae_run``.

        A flat code (digits): an MLP of 256 units, batch 256, 40 epochs of
        20,480 codes (3,200 steps, about a minute, after about 12 s sharpening
        the decoder), 20 Heun steps, guidance 4 for t <= 0.3. The epochs are
        large because an epoch of 4,000 codes takes a fraction of a second,
        less than its sample grid.

        A spatial code (``spatial``, colour images): a small U-Net at the
        code's resolution (:func:`tfimagegen.diffusion.make_latent_unet`, 48
        channels), 40 epochs of 4,000 codes (about 7 min for 32-px emoji), 6
        Heun steps, guidance 2 for t <= 0.7, the decoder sharpened for 2
        epochs. Widths 32, 48 and 64 were measured for the same 7 minutes:
        48 draws 1,000 samples in 8 s; 64 scored 6 % better and draws 2-4x
        slower; 6 Heun steps score as 20 do (``benchmarks/README.md``).
        """
        if spatial:
            return replace(self, latent=str(vae_run), width=48, steps=6, sampler="heun",
                           learning_rate=1e-3, decoder_epochs=2, epochs=40)
        return replace(self, latent=str(vae_run), width=256, batch_size=256, guidance=4.0,
                       guidance_below=0.3, sampler="heun", decoder_epochs=10,
                       epoch_images=80 * 256, epochs=40)

    def configure(self, *, latent_dim: int | None = None, unconditional: bool = False,
                  latent: str | None = None, downsample: int | None = None,
                  latent_channels: int | None = None, text: str | None = None,
                  spatial: bool = False) -> DiffusionRecipe:
        recipe = super().configure(latent_dim=latent_dim, unconditional=unconditional,
                                   downsample=downsample, latent_channels=latent_channels)
        if latent is not None:
            recipe = recipe.for_latents(latent, spatial)
        if text is not None:
            if latent is None or not spatial:
                raise ValueError("--text needs --latent with a spatial VAE run (train vae on "
                                 "colour images): the text model cross-attends from each "
                                 "position of the code")
            if unconditional:
                raise ValueError("--text is a condition; drop --unconditional")
            recipe = recipe.for_text(text)
        return recipe

    def for_text(self, clip_run: str) -> DiffusionRecipe:
        """The latent recipe told captions instead of classes, by the frozen text encoder
        of the CLIP run folder ``clip_run``: every word's features reach the U-Net by
        cross-attention (:mod:`tfimagegen.textflow`); the empty caption is the null
        condition, dropped in for 10 % of the images."""
        return replace(self, text=str(clip_run), num_classes=0)


@dataclass(frozen=True)
class ClipRecipe(_EpochBudget):
    """The default tiny-CLIP recipe (``clip.Recipe``): images and captions, contrastively.

    Sized for 32-pixel emoji and their Unicode names on 2 CPU cores
    (``benchmarks/text.py``).
    """

    embed_dim: int = 64  # the shared embedding's size
    width: int = 32  # image encoder: channels at H/2 (H/4 twice, H/8 four times)
    text_width: int = 64  # text encoder: features per word
    heads: int = 4
    text_layers: int = 2  # transformer blocks over the words
    batch_size: int = 128  # pairs per batch: each image against 127 wrong captions
    learning_rate: float = 2e-3  # Adam
    temperature: float = 0.07  # CLIP's starting temperature; learnt from there
    epochs: int = 30
    quick_epochs: int = 2  # for tests

    needs_captions: ClassVar[bool] = True


@dataclass(frozen=True)
class StudentRecipe:
    """How :func:`tfimagegen.apply.train_student` trains a classifier (``apply.Recipe``).

    The same optimiser steps whatever the number of digits, so 100 real digits
    and 6,000 real + generated ones get the same compute.
    """

    steps: int = 1000  # 64-digit batches, ~21 passes over 3,000 digits, ~15 s on 2 CPU cores
    batch_size: int = 64
    learning_rate: float = 2e-3  # Adam, cosine decay to 0 over the steps
