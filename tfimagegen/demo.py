"""The main job of ``make demo``: a gallery of what the lessons make.

Run it with ``python -m tfimagegen demo --out outputs/demo``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfimagegen import images, noise

NOISE_LEVELS = (0.05, 0.15, 0.3)  # stddev of the Gaussian noise added to the photo
DEMO_GAN_EPOCHS = 10  # a short GAN: rough but recognisable digits in about a minute


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


def run(out: Path, seed: int = 0, quick: bool = False) -> list[Path]:
    """Write the gallery as PNGs plus ``overview.png``; return the paths.

    Trains a short GAN into ``out/gan`` (resumable; ``quick``: a smoke-test run)
    and adds its samples as ``gan_samples.png``.
    """
    from tfimagegen import runs

    out.mkdir(parents=True, exist_ok=True)
    gallery = noise_gallery(seed)
    runs.train("gan", out / "gan", epochs=None if quick else DEMO_GAN_EPOCHS, seed=seed,
               quick=quick, verbose=2)
    gallery["gan_samples"] = images.load_image(out / "gan" / "samples.png")
    written = [images.save_image(out / f"{name}.png", image) for name, image in gallery.items()]
    fig = images.show_grid(list(gallery.values()), titles=list(gallery), ncols=4, size=3)
    overview = out / "overview.png"
    fig.savefig(overview, dpi=80)
    written.append(overview)
    return written
