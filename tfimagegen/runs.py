"""Training runs behind the CLI: ``train gan``, ``train vae``, ``sample``, ``elbo``.

A run folder (see :mod:`tfimagegen.training`) starts with ``run.json``, which
says which model it holds; that is how ``sample`` knows what to load and how a
rerun knows it may resume. Everything here is also callable from Python.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tfimagegen.data import first_line
from tfimagegen.files import atomic_path

MODELS = ("gan", "vae")
NAMED_DATA = ("mnist", "fashion_mnist")  # --data names; anything else is a .npz file
MODEL_FILES = {"gan": "generator.keras", "vae": "vae.keras"}
QUICK_IMAGES = 512  # --quick trains on this many images, for tests and smoke runs
MAX_SAMPLES = 100_000  # sample --num: 78 MB of uint8 digits
MAX_K = 100_000  # elbo --k: importance samples per digit (decoded in bounded chunks)
MAX_SEED = 2**32  # keras.utils.set_random_seed seeds NumPy, which takes [0, 2**32)
LOCK_NAME = ".lock"  # held (flock) by the process training into a run folder


class RunError(Exception):
    """A run folder or argument that cannot be used; the message says why."""


def read_run(out: Path) -> dict | None:
    """``run.json`` of a run folder, ``None`` for a missing or empty folder.

    Raises:
        RunError: the folder holds other files, or an unreadable ``run.json``.
    """
    out = Path(out)
    if not out.exists() or (out.is_dir() and all(p.name == LOCK_NAME for p in out.iterdir())):
        return None
    if not out.is_dir():
        raise RunError(f"{out} is a file, not a run folder")
    try:
        run = json.loads((out / "run.json").read_text())
    except FileNotFoundError:
        raise RunError(f"{out} is not empty and holds no run.json: not a tfimagegen run "
                       "folder; choose another --out") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunError(f"{out / 'run.json'} is damaged ({first_line(err)})") from None
    if not isinstance(run, dict):
        raise RunError(f"{out / 'run.json'} is damaged (a JSON {type(run).__name__}, not the "
                       "record of a run)")
    if run.get("model") not in MODELS:
        raise RunError(f"{out / 'run.json'} names an unknown model {run.get('model')!r}")
    return run


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold the run folder ``out`` for one writer; released when the block ends.

    An ``flock`` on ``out/.lock``: the operating system drops it when the
    process ends, even by ``kill -9``, so a killed run never blocks its rerun.

    Raises:
        RunError: another process holds the folder.
    """
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RunError(f"{out} is being trained by {holder}; wait for it to finish, or "
                           "choose another --out") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_unlocked(out: Path) -> None:
    """Raise :class:`RunError` now if another process is training into ``out``."""
    if (Path(out) / LOCK_NAME).is_file():
        with run_lock(Path(out)):
            pass


def check_data_arg(source: str, needs_labels: bool = False, num_classes: int = 0) -> None:
    """Reject a ``--data`` value that cannot work, without importing TensorFlow.

    An npz file is read and checked whole: 28×28 uint8 digits, at least one,
    and, if ``needs_labels`` (a conditional GAN), labels under ``y`` (or
    ``labels``), in ``[0, num_classes)`` when ``num_classes`` is given.

    Raises:
        RunError: not mnist, fashion_mnist or a usable .npz file.
    """
    if source in NAMED_DATA:
        return
    _check_data_name(source)
    images, labels = load_digits_npz(source)
    _check_training_data(source, images, labels, needs_labels, num_classes)


def _check_data_name(source: str) -> None:
    if source not in NAMED_DATA and not source.endswith(".npz"):
        raise RunError(f"--data must be {', '.join(NAMED_DATA)} or a .npz file, got {source!r}")


def _check_training_data(source: str, images: np.ndarray, labels: np.ndarray | None,
                         needs_labels: bool, num_classes: int) -> None:
    if not len(images):
        raise RunError(f"--data {source} holds no images")
    if needs_labels and labels is None:
        raise _no_labels(source)
    if needs_labels and num_classes and labels.max() >= num_classes:
        raise RunError(f"--data {source}: labels must be in [0, {num_classes}), "
                       f"got up to {labels.max()}")


def _no_labels(source: str) -> RunError:
    return RunError(f"--data {source} has no labels (an npz file needs the key 'y' or "
                    "'labels'); the GAN "
                    "is told which digit to draw, so it needs them: add them, or pass "
                    "--unconditional")


def load_training_data(source: str, quick: bool = False, split: str = "train"
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(images, labels)`` for ``--data``: mnist, fashion_mnist or PATH.npz.

    Images are uint8 ``(N, 28, 28, 1)``; labels are integers ``(N,)``, or
    ``None`` for an npz file without labels. For mnist and fashion_mnist,
    ``split`` picks ``"train"`` (the digits a model trains on) or
    ``"validation"`` (held out from them); an npz file is all training data.

    Raises:
        RunError: an unknown name, or an npz file of the wrong shape.
    """
    from tfimagegen import data

    _check_data_name(source)
    if source == "mnist":
        images, labels = data.load_mnist(split)
    elif source == "fashion_mnist":
        try:
            images, labels = data.load_fashion_mnist(split)
        except RuntimeError as err:
            raise RunError(str(err)) from None
    elif source.endswith(".npz"):
        images, labels = load_digits_npz(source)
    if quick:
        images, labels = images[:QUICK_IMAGES], None if labels is None else labels[:QUICK_IMAGES]
    return images, labels


def load_digits_npz(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 ``(N, 28, 28, 1)`` digits under the key ``x`` (or ``images``) of an
    ``.npz`` file, and their labels under ``y`` (or ``labels``), or ``None``.

    Raises:
        RunError: a missing or unreadable file, a missing key, a wrong dtype or shape.
    """
    from tfimagegen import data

    try:
        images, labels = data.load_npz(path)
    except FileNotFoundError:
        raise RunError(f"--data {path}: no such file") from None
    except (ValueError, TypeError) as err:
        raise RunError(str(err)) from None
    if images.shape[1:] != (28, 28, 1):
        raise RunError(f"--data {path}: the models take 28x28 greyscale images, "
                       f"got {images.shape[1:]}")
    return images, labels


def check_run_folder(model: str, out: Path, latent_dim: int | None = None,
                     unconditional: bool = False):
    """The recipe a ``train`` call will use, once ``out`` is known to fit it.

    Needs no TensorFlow, so the command line calls it before TensorFlow loads.

    Returns:
        ``(recipe, previous)``: a :class:`tfimagegen.recipes.GANRecipe` or
        ``VAERecipe`` with the options applied, and the folder's ``run.json``
        (``None`` for a new run).

    Raises:
        RunError: an unknown model, bad options, or a folder holding another run
            (another model, or one made with other recipe settings, e.g. by an
            older version of this package).
    """
    from tfimagegen import recipes

    if model not in MODELS:
        raise RunError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if unconditional and model != "gan":
        raise RunError("--unconditional is for gan runs; the VAE is always unconditional")
    recipe = recipes.GANRecipe() if model == "gan" else recipes.VAERecipe()
    if latent_dim is not None:
        if latent_dim < 1:
            raise RunError(f"--latent-dim must be >= 1, got {latent_dim}")
        recipe = dataclasses.replace(recipe, latent_dim=latent_dim)
    if unconditional:
        recipe = dataclasses.replace(recipe, num_classes=0)
    previous = read_run(out)
    if previous is None:
        return recipe, None
    if previous["model"] != model:
        raise RunError(f"{out} holds a {previous['model']} run, not a {model} run")
    if previous.get("latent_dim", recipe.latent_dim) != recipe.latent_dim:
        raise RunError(f"{out} holds a run with latent dim {previous['latent_dim']}, not "
                       f"{recipe.latent_dim}; choose another --out")
    before = dict(previous.get("recipe", {}))
    if model == "gan" and before:
        before.setdefault("num_classes", 0)  # GAN runs made before labels were added
    settings = _settings(recipe)
    changed = {k: v for k, v in before.items() if k in settings and settings[k] != v}
    if changed:
        raise RunError(f"{out} holds a run made with another recipe ("
                       + ", ".join(f"{k} {v}, not {settings[k]}" for k, v in changed.items())
                       + "); choose another --out")
    return recipe, previous


def _settings(recipe) -> dict:
    """What ``run.json`` records of a recipe: every field but the epoch counts."""
    return {k: v for k, v in dataclasses.asdict(recipe).items()
            if k not in ("epochs", "quick_epochs")}


def resolve_options(out: Path, previous: dict | None, recipe, *, epochs: int | None = None,
                    seed: int | None = None, data: str | None = None,
                    quick: bool | None = None) -> dict:
    """The ``epochs``, ``seed``, ``data`` and ``quick`` a ``train`` call will use.

    A new run takes what is given, else the defaults (the recipe's epochs,
    seed 0, ``"mnist"``, not quick). A run being resumed takes what its
    ``run.json`` recorded for anything not given; a given value that differs is
    an error, except ``epochs``, which may grow to train more. Needs no TensorFlow.

    Raises:
        RunError: ``epochs < 1``, or an option that conflicts with the record.
    """
    previous = previous or {}
    if data is not None:
        data = os.fspath(data)  # a pathlib.Path to an .npz file is recorded as its text
    options = {}
    for key, value in {"seed": seed, "data": data, "quick": quick}.items():
        recorded = previous.get(key)
        if value is not None and recorded is not None and value != recorded:
            raise RunError(_conflict(out, key, recorded, value))
        options[key] = recorded if value is None else value
    options["seed"] = _check_seed(0 if options["seed"] is None else options["seed"])
    options["data"] = options["data"] or "mnist"
    options["quick"] = bool(options["quick"])
    if epochs is None:
        epochs = previous.get("epochs") or (recipe.quick_epochs if options["quick"]
                                            else recipe.epochs)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise RunError(f"--epochs must be an int >= 1, got {epochs!r}")
    options["epochs"] = epochs
    return options


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < MAX_SEED:
        raise RunError(f"--seed must be an int in [0, 2**32), got {seed!r}")
    return int(seed)


def _conflict(out: Path, key: str, recorded, value) -> str:
    if key == "quick":
        return (f"{out} holds a {'quick' if recorded else 'full'} run; rerun "
                f"{'with' if recorded else 'without'} --quick to resume it, or choose "
                "another --out")
    return (f"{out} holds a run made with --{key} {recorded}, not {value}; rerun with --{key} "
            f"{recorded} (or without --{key}) to resume it, or choose another --out")


def train(model: str, out: Path, *, epochs: int | None = None, seed: int | None = None,
          data: str | None = None, quick: bool | None = None, latent_dim: int | None = None,
          unconditional: bool = False, verbose: int | str = "auto",
          build: Callable | None = None) -> Path:
    """Train (or resume) a ``"gan"`` or ``"vae"`` run; returns the saved model file.

    Defaults are the notebook's full-mode recipe (``gan.Recipe``, ``vae.Recipe``)
    on ``data="mnist"`` with seed 0; ``quick`` uses its quick epochs and
    :data:`QUICK_IMAGES` images. An epoch is ``recipe.steps_per_epoch`` steps
    over the repeated, reshuffled training digits, so a run costs the same
    minutes whatever the data's size. Resuming, options not given are read back
    from ``run.json`` (:func:`resolve_options`). A VAE trains on the digits
    binarised at 0.5 (``data.binarize``) and, for mnist and fashion_mnist, is
    scored on their validation split after every epoch (``val_`` records in
    ``history.json``). A GAN is class-conditional and trains on the labels too,
    unless ``unconditional`` (``gan.Recipe(num_classes=0)``).

    ``build(recipe, seed)`` swaps in a compiled model of your own (e.g.
    ``gan.build_gan(recipe, seed, generator=my_generator)``); ``run.json``
    records its name under ``network``, and resuming needs the same one.

    Raises:
        RunError: as :func:`check_run_folder` and :func:`resolve_options`, bad
            numbers, another ``build`` than the run's, or data without the
            labels a conditional GAN needs.
    """
    out = Path(out)
    recipe, previous = check_run_folder(model, out, latent_dim, unconditional)
    options = resolve_options(out, previous, recipe, epochs=epochs, seed=seed, data=data,
                              quick=quick)
    network = "recipe" if build is None else getattr(build, "__name__", "custom")
    if previous and previous.get("network", "recipe") != network:
        raise RunError(f"{out} holds a run of the network {previous.get('network', 'recipe')!r}, "
                       f"not {network!r}; pass the same build to resume it, or choose another "
                       "--out")
    images, labels = load_training_data(options["data"], options["quick"])
    num_classes = getattr(recipe, "num_classes", 0)
    _check_training_data(options["data"], images, labels, bool(num_classes), num_classes)

    with run_lock(out):
        run = {"model": model, **options, "latent_dim": recipe.latent_dim,
               "recipe": _settings(recipe), "network": network}
        write_json(out / "run.json", run)
        return _fit(model, out, recipe, run, images, labels, build, verbose)


def _fit(model: str, out: Path, recipe, run: dict, images: np.ndarray,
         labels: np.ndarray | None, build: Callable | None, verbose: int | str) -> Path:
    """The training part of :func:`train`, once the folder is held and recorded."""
    import keras

    from tfimagegen import data as datasets
    from tfimagegen import gan, training, vae

    seed, data, quick = run["seed"], run["data"], run["quick"]
    num_classes = getattr(recipe, "num_classes", 0)
    keras.utils.set_random_seed(seed)
    steps = -(-len(images) // recipe.batch_size) if quick else recipe.steps_per_epoch
    validation = None
    if model == "gan":
        net = (build or gan.build_gan)(recipe, seed)
        dataset = datasets.as_dataset(images, recipe.batch_size, seed=seed, scale="tanh",
                                      labels=labels if num_classes else None, repeat=True)
    else:
        net = (build or vae.build_vae)(recipe, seed)
        dataset = datasets.as_dataset(datasets.binarize(images), recipe.batch_size, seed=seed,
                                      scale="unit", repeat=True)
        if data in NAMED_DATA:
            val_images = load_training_data(data, quick, split="validation")[0]
            validation = datasets.as_dataset(datasets.binarize(val_images), 500, seed=seed,
                                             scale="unit")
    z = training.fixed_latents(10 * num_classes or 64, recipe.latent_dim, seed)
    try:
        training.fit_run(net, dataset, out, run["epochs"], z, verbose=verbose,
                         steps_per_epoch=steps, validation_data=validation)
    except training.DamagedBackupError as err:
        raise RunError(str(err)) from None
    training.finish_run(net, out, z)
    path = out / MODEL_FILES[model]
    with atomic_path(path) as tmp:
        (net.ema_generator if model == "gan" else net).save(tmp)
    return path


def load_run_model(run_dir: Path):
    """The saved model of a finished run and its ``run.json``: ``(model, run)``.

    A GAN run gives its (EMA) generator, a VAE run the whole :class:`vae.VAE`.
    Loaded with ``safe_mode=True``.

    Raises:
        RunError: not a run folder, one whose training has not finished, or a
            model file that cannot be loaded (damaged, or refused by
            ``safe_mode`` because it would run code, e.g. a ``Lambda`` layer).
    """
    run = read_run(Path(run_dir))
    if run is None:
        raise RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
    path = Path(run_dir) / MODEL_FILES[run["model"]]
    if not path.is_file():
        raise RunError(f"{path} is missing: the run has not finished; rerun its train command")
    import keras

    from tfimagegen import vae  # noqa: F401  (registers the VAE classes for loading)

    try:
        return keras.saving.load_model(path, safe_mode=True), run
    except Exception as err:  # zip, h5py, JSON or Keras' own errors: say which file, in a line
        raise RunError(f"{path} cannot be loaded ({first_line(err)}); retrain the run into "
                       "another --out") from None


def sample(run_dir: Path, num: int, seed: int = 0) -> np.ndarray:
    """``num`` generated digits from a finished run: uint8 ``(num, 28, 28, 1)``.

    A GAN run gives its generator's images (a conditional one cycles through
    the classes, see :func:`sample_with_labels`), a VAE run its decoder's
    pixel means (not binarised), both from ``z ~ N(0, I)`` drawn with ``seed``.

    Raises:
        RunError: not a run folder, one whose training has not finished, ``num``
            outside [1, :data:`MAX_SAMPLES`], or a bad seed.
    """
    return sample_with_labels(run_dir, num, seed)[0]


def sample_with_labels(run_dir: Path, num: int, seed: int = 0,
                       label: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Digits as in :func:`sample` and the class each was drawn as.

    Args:
        label: for a conditional GAN run, draw only this class; default
            ``0, 1, …, 9, 0, …`` (:func:`tfimagegen.gan.cycle_labels`).

    Returns:
        ``(images, labels)``: uint8 ``(num, 28, 28, 1)`` and int32 ``(num,)``,
        or ``None`` for a run whose model takes no labels.

    Raises:
        RunError: as :func:`sample`, or a ``label`` the run cannot draw.
    """
    if not 1 <= num <= MAX_SAMPLES:
        raise RunError(f"--num must be in [1, {MAX_SAMPLES:,}], got {num:,}")
    _check_seed(seed)
    run = read_run(Path(run_dir)) or {}  # checked before TensorFlow loads: a quick, clean error
    num_classes = run.get("recipe", {}).get("num_classes", 0) if run.get("model") == "gan" else 0
    if run and label is not None and not 0 <= label < num_classes:
        raise RunError(f"--label {label}: " + (f"this run draws classes 0 to {num_classes - 1}"
                                               if num_classes else
                                               "this run is unconditional; it takes no label"))
    net, run = load_run_model(run_dir)

    import tensorflow as tf

    from tfimagegen import gan, images

    if run["model"] == "gan":
        generator, value_range = net, (-1.0, 1.0)
    else:
        generator, value_range = net.decoder, (0.0, 1.0)
    z = tf.random.stateless_normal((num, generator.inputs[0].shape[-1]), seed=[seed, 0])
    labels = None
    if num_classes:
        labels = (gan.cycle_labels(num, num_classes) if label is None
                  else np.full(num, label, np.int32))
    x = generator.predict(gan.generator_inputs(z, num_classes, labels), batch_size=1000,
                          verbose=0)
    if run["model"] == "vae":
        x = tf.sigmoid(x).numpy()  # the decoder gives logits; the images are their means
    return images.to_uint8(x, value_range=value_range), labels


def likelihood(run_dir: Path, data_path: str, k: int = 1, seed: int = 0) -> dict:
    """``{"elbo": ...}`` or, for ``k > 1``, ``{"elbo", "iwae", "k"}``: nats per image.

    Scores a finished VAE run on the uint8 28×28 digits under the key ``x`` (or
    ``images``) of ``data_path``, binarised at 0.5 as in training.

    Raises:
        RunError: not a finished VAE run, ``k`` outside [1, :data:`MAX_K`], a bad
            seed, or an unusable (or empty) data file.
    """
    if not 1 <= k <= MAX_K:
        raise RunError(f"--k must be in [1, {MAX_K:,}], got {k:,}")
    _check_seed(seed)
    digits, _ = load_digits_npz(data_path)
    if not len(digits):
        raise RunError(f"--data {data_path} holds no images")
    run = read_run(Path(run_dir)) or {}  # checked before TensorFlow loads: a quick, clean error
    if run.get("model", "vae") != "vae":
        raise RunError(f"{run_dir} holds a {run['model']} run; elbo needs a vae run "
                       "(a GAN has no likelihood)")
    net, run = load_run_model(run_dir)
    from tfimagegen import vae

    result = {"elbo": vae.elbo(net, digits, seed=seed)}
    if k > 1:
        result.update(iwae=vae.iwae_bound(net, digits, k, seed=seed), k=k)
    return result


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` written atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


def write_json(path: Path, value: dict) -> None:
    """``value`` as indented JSON, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1))
