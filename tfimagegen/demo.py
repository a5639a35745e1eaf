"""The main job of ``make demo``: a gallery of what the lessons make.

Run it with ``python -m tfimagegen demo --out outputs/demo``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfimagegen import images, noise

NOISE_LEVELS = (0.05, 0.15, 0.3)  # stddev of the Gaussian noise added to the photo
DEMO_GAN_EPOCHS = 10  # a short GAN: rough but recognisable digits in about a minute
DEMO_VAE_EPOCHS = 15  # each of the two short VAEs (16-D for samples, 2-D for the map): ~30 s


def noise_gallery(seed: int = 0) -> dict[str, np.ndarray]:
    """Noise images and a noisy photo, as uint8 ``(H, W, C)`` arrays keyed by name."""
    size = (256, 256, 3)
    photo = images.sample_image()
    gallery = {
        # N(0.5, 0.15²) around mid-grey, clipped to [0, 1] for display
        "gaussian": images.to_uint8(noise.gaussian(size, 0.5, 0.15, seed=seed).numpy()),
        "uniform": images.to_uint8(noise.uniform(size, seed=seed).numpy()),
        "fractal": images.to_uint8(noise.fractal(size, octaves=6, seed=seed).numpy()),
        "photo": photo,
    }
    for level in NOISE_LEVELS:
        gallery[f"photo_gaussian_{level}"] = noise.add_gaussian(photo, stddev=level, seed=seed)
    return gallery


def emoji_gallery(per_group: int = 12, seed: int = 0) -> np.ndarray:
    """``per_group`` training emoji of each of the nine groups, a row each: uint8 RGB.

    Drawn from OpenMoji (CC BY-SA 4.0; :data:`tfimagegen.emoji.ATTRIBUTION`).
    """
    from tfimagegen import emoji

    x, labels, groups, _ = emoji.load("train")
    rng = np.random.default_rng(seed)
    rows = [np.concatenate(list(x[rng.choice(np.flatnonzero(labels == g), per_group,
                                             replace=False)]), axis=1)
            for g in range(len(groups))]
    return np.concatenate(rows, axis=0).repeat(2, axis=0).repeat(2, axis=1)


def run(out: Path, seed: int = 0, quick: bool = False) -> list[Path]:
    """Write the gallery as PNGs plus ``overview.png``; return the paths.

    Trains a short GAN into ``out/gan``, two short VAEs into ``out/vae`` and
    ``out/vae_2d``, and a latent diffusion model on the first VAE into
    ``out/latent_flow`` (all resumable; ``quick``: smoke-test runs), and adds the
    GAN's, the VAE's and the diffusion model's samples (``gan_samples.png``,
    ``vae_samples.png``, ``diffusion_samples.png``), the 2-D VAE's latent map
    (``vae_latent_map.png``) and a gallery of the colour emoji set, a row per
    Unicode group (``emoji_gallery.png``; OpenMoji, CC BY-SA 4.0).
    """
    from tfimagegen import runs, vae

    out.mkdir(parents=True, exist_ok=True)
    gallery = noise_gallery(seed)
    gallery["emoji_gallery"] = emoji_gallery(seed=seed)
    runs.train("gan", out / "gan", epochs=None if quick else DEMO_GAN_EPOCHS, seed=seed,
               quick=quick, verbose=2)
    gallery["gan_samples"] = images.load_image(out / "gan" / "samples.png")
    vae_epochs = None if quick else DEMO_VAE_EPOCHS
    runs.train("vae", out / "vae", epochs=vae_epochs, seed=seed, quick=quick, verbose=2)
    gallery["vae_samples"] = images.load_image(out / "vae" / "samples.png")
    runs.train("diffusion", out / "latent_flow", latent=out / "vae", seed=seed, quick=quick,
                verbose=2)
    gallery["diffusion_samples"] = images.load_image(out / "latent_flow" / "samples.png")
    map_path = runs.train("vae", out / "vae_2d", epochs=vae_epochs, seed=seed, quick=quick,
                          latent_dim=2, verbose=2)
    model, _ = runs.load_run_model(map_path.parent)
    gallery["vae_latent_map"] = vae.latent_grid(model, n=16)
    written = [images.save_image(out / f"{name}.png", image) for name, image in gallery.items()]
    fig = images.show_grid(list(gallery.values()), titles=list(gallery), ncols=4, size=3)
    overview = out / "overview.png"
    fig.savefig(overview, dpi=80)
    written.append(overview)
    return written
