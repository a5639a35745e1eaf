"""Training runs behind the CLI: ``train gan``, ``sample``.

A run folder (see :mod:`tfimagegen.training`) starts with ``run.json``, which
says which model it holds; that is how ``sample`` knows what to load and how a
rerun knows it may resume. Everything here is also callable from Python.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tfimagegen.files import atomic_path

MODELS = ("gan",)
MODEL_FILES = {"gan": "generator.keras"}
QUICK_IMAGES = 512  # --quick trains on this many images, for tests and smoke runs


class RunError(Exception):
    """A run folder or argument that cannot be used; the message says why."""


def read_run(out: Path) -> dict | None:
    """``run.json`` of a run folder, ``None`` for a missing or empty folder.

    Raises:
        RunError: the folder holds other files, or an unreadable ``run.json``.
    """
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    if not out.is_dir():
        raise RunError(f"{out} is a file, not a run folder")
    try:
        run = json.loads((out / "run.json").read_text())
    except FileNotFoundError:
        raise RunError(f"{out} is not empty and holds no run.json: not a tfimagegen run "
                       "folder; choose another --out") from None
    except json.JSONDecodeError as err:
        raise RunError(f"{out / 'run.json'} is damaged ({err})") from None
    if run.get("model") not in MODELS:
        raise RunError(f"{out / 'run.json'} names an unknown model {run.get('model')!r}")
    return run


def check_data_arg(source: str) -> None:
    """Reject a ``--data`` value that cannot work, without loading anything heavy.

    Raises:
        RunError: not mnist, fashion_mnist or an existing .npz file.
    """
    if source in ("mnist", "fashion_mnist"):
        return
    if not source.endswith(".npz"):
        raise RunError(f"--data must be mnist, fashion_mnist or a .npz file, got {source!r}")
    if not Path(source).is_file():
        raise RunError(f"--data {source}: no such file")


def load_training_images(source: str, quick: bool = False) -> np.ndarray:
    """uint8 ``(N, 28, 28, 1)`` images for ``--data``: mnist, fashion_mnist or PATH.npz.

    Raises:
        RunError: an unknown name, or an npz file of the wrong shape.
    """
    from tfimagegen import data

    check_data_arg(source)
    if source == "mnist":
        images, _ = data.load_mnist("train")
    elif source == "fashion_mnist":
        try:
            images, _ = data.load_fashion_mnist("train")
        except RuntimeError as err:
            raise RunError(str(err)) from None
    elif source.endswith(".npz"):
        try:
            images, _ = data.load_npz(source)
        except (FileNotFoundError, ValueError, TypeError) as err:
            raise RunError(str(err)) from None
        if images.shape[1:] != (28, 28, 1):
            raise RunError(f"--data {source}: the models take 28x28 greyscale images, "
                           f"got {images.shape[1:]}")
    return images[:QUICK_IMAGES] if quick else images


def train(model: str, out: Path, *, epochs: int | None = None, seed: int = 0,
          data: str = "mnist", quick: bool = False, verbose: int | str = "auto") -> Path:
    """Train (or resume) a run; returns the saved model file.

    Defaults are the notebook's full-mode recipe; ``quick`` uses its quick epochs
    and :data:`QUICK_IMAGES` images.
    """
    import keras

    from tfimagegen import data as datasets
    from tfimagegen import gan, training

    out = Path(out)
    previous = read_run(out)
    if previous is not None and previous["model"] != model:
        raise RunError(f"{out} holds a {previous['model']} run, not a {model} run")
    recipe = gan.Recipe()
    epochs = epochs or (recipe.quick_epochs if quick else recipe.epochs)
    if epochs < 1:
        raise RunError(f"--epochs must be >= 1, got {epochs}")
    images = load_training_images(data, quick)

    out.mkdir(parents=True, exist_ok=True)
    run = {"model": model, "epochs": epochs, "seed": seed, "data": data, "quick": quick}
    write_json(out / "run.json", run)
    keras.utils.set_random_seed(seed)
    net = gan.build_gan(recipe, seed=seed)
    dataset = datasets.as_dataset(images, recipe.batch_size, seed=seed, scale="tanh")
    z = training.fixed_latents(64, recipe.latent_dim, seed)
    training.fit_run(net, dataset, out, epochs, z, verbose=verbose)
    training.finish_run(net, out, z)
    path = out / MODEL_FILES[model]
    with atomic_path(path) as tmp:
        net.ema_generator.save(tmp)
    return path


def sample(run_dir: Path, num: int, seed: int = 0) -> np.ndarray:
    """``num`` generated digits from a finished run: uint8 ``(num, 28, 28, 1)``.

    Raises:
        RunError: not a run folder, or one whose training has not finished.
    """
    run = read_run(Path(run_dir))
    if run is None:
        raise RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
    path = Path(run_dir) / MODEL_FILES[run["model"]]
    if not path.is_file():
        raise RunError(f"{path} is missing: the run has not finished; rerun its train command")
    if num < 1:
        raise RunError(f"--num must be >= 1, got {num}")

    import keras
    import tensorflow as tf

    from tfimagegen import images

    generator = keras.saving.load_model(path, safe_mode=True)
    latent_dim = generator.input_shape[-1]
    z = tf.random.stateless_normal((num, latent_dim), seed=[seed, 0])
    x = generator.predict(z, batch_size=1000, verbose=0)
    return images.to_uint8(x, value_range=(-1.0, 1.0))


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` written atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


def write_json(path: Path, value: dict) -> None:
    """``value`` as indented JSON, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1))
