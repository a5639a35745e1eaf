"""Training runs behind the CLI: ``train gan|vae|diffusion``, ``sample``, ``elbo``.

A run folder (see :mod:`tfimagegen.training`) starts with ``run.json``, which
says which model family it holds (a key of :data:`tfimagegen.families.FAMILIES`);
that is how ``sample`` knows what to load and how a rerun knows it may resume.
Nothing here knows what a GAN is: each family's module does its part through
the same four functions. Everything here is also callable from Python.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tfimagegen.data import first_line
from tfimagegen.families import FAMILIES, Family
from tfimagegen.files import atomic_path, write_json

NAMED_DATA = ("mnist", "fashion_mnist")  # --data names; anything else is a .npz file
QUICK_IMAGES = 512  # --quick trains on this many images, for tests and smoke runs
MAX_SAMPLES = 100_000  # sample --num: 78 MB of uint8 digits
MAX_K = 100_000  # elbo --k: importance samples per digit (decoded in bounded chunks)
MAX_SEED = 2**32  # keras.utils.set_random_seed seeds NumPy, which takes [0, 2**32)
MAX_STEPS = 1000  # sample --steps: sampler steps of a diffusion run
MAX_GUIDANCE = 100.0  # sample --guidance: classifier-free guidance weight
LOCK_NAME = ".lock"  # held (flock) by the process training into a run folder
RUNS_ENV = "TFIMAGEGEN_RUNS"  # where the lessons keep their run folders (lessons_folder)


class RunError(Exception):
    """A run folder or argument that cannot be used; the message says why."""


def family(model: str) -> Family:
    """The :class:`tfimagegen.families.Family` called ``model``.

    Raises:
        RunError: a name that is not in the table.
    """
    if model not in FAMILIES:
        raise RunError(f"model must be one of {', '.join(FAMILIES)}, got {model!r}")
    return FAMILIES[model]


def lessons_folder() -> Path:
    """The one folder the lessons keep their run folders in, whatever the working directory.

    ``$TFIMAGEGEN_RUNS`` if set; else ``notebooks/outputs`` of the checkout this
    package was installed from (``pip install -e .``), where the committed
    lessons wrote theirs; else ``tfimagegen/runs`` in the user's cache folder
    (``$XDG_CACHE_HOME``, default ``~/.cache``). Later lessons reuse earlier
    lessons' runs from here, so a notebook opened from another folder, or a
    cell copied into another project, finds them instead of training again.
    """
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser().resolve()
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    if notebooks.is_dir():
        return notebooks / "outputs"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tfimagegen" / "runs"


def train_missing(model: str, out: Path, **options) -> Path:
    """:func:`train` a run that has not finished, saying so; a finished one is left as it is.

    For lessons that reuse an earlier lesson's run: when it is missing, a line
    says what is being trained and where, and Keras prints one line per epoch.

    Returns:
        The run's saved model file.
    """
    out = Path(out)
    path = out / family(model).model_file
    if path.is_file():
        return path
    settings = ", ".join(f"{k}={v}" for k, v in options.items() if v is not None) or "the recipe"
    print(f"{out} has no finished {model} run: training it now ({settings}), one line per "
          "epoch", flush=True)
    return train(model, out, verbose=2, **options)


def train_seconds(run_dir: Path) -> float:
    """What a run's training cost in wall-clock seconds: its epochs (each with its
    checkpoint and sample grid) plus its set-up (e.g. a latent model's decoder
    sharpening), over every resume."""
    from tfimagegen import training

    run = read_run(Path(run_dir)) or {}
    return run.get("setup_seconds", 0.0) + sum(e["seconds"]
                                                for e in training.read_history(run_dir))


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
    if run.get("model") not in FAMILIES:
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
                    "'labels'); a conditional model "
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
                     unconditional: bool = False, latent: str | os.PathLike | None = None):
    """The recipe a ``train`` call will use, once ``out`` is known to fit it.

    Needs no TensorFlow, so the command line calls it before TensorFlow loads.

    Args:
        model: a family of :data:`tfimagegen.families.FAMILIES`.
        latent_dim, unconditional, latent: ``train``'s options, for the
            families that take them (the recipe's ``configure`` says).

    Returns:
        ``(recipe, previous)``: the family's recipe with the options applied,
        and the folder's ``run.json`` (``None`` for a new run).

    Raises:
        RunError: an unknown model, bad options, a ``latent`` folder that is not
            a finished VAE run, or a folder holding another run (another model,
            or one made with other recipe settings, e.g. by an older version).
    """
    fam = family(model)
    if latent is not None:
        latent = os.fspath(latent)
    try:
        recipe = fam.recipe().configure(latent_dim=latent_dim, unconditional=unconditional,
                                        latent=latent)
    except ValueError as err:
        raise RunError(str(err)) from None
    if latent is not None:  # a family that takes --latent: it must be a finished VAE run
        check_latent_run(latent)
        recipe = dataclasses.replace(recipe, latent=str(Path(latent).resolve()))
    previous = read_run(out)
    if previous is None:
        return recipe, None
    if previous["model"] != model:
        raise RunError(f"{out} holds a {previous['model']} run, not a {model} run")
    before = dict(previous.get("recipe", {}))
    if before:
        before = {**recipe.legacy, **before}
    settings = _settings(recipe)
    changed = {k: v for k, v in before.items() if k in settings and settings[k] != v}
    if changed:
        raise RunError(f"{out} holds a run made with another recipe ("
                       + ", ".join(f"{k} {v!r}, not {settings[k]!r}" for k, v in changed.items())
                       + "); rerun with the options it was made with, or choose another --out")
    return recipe, previous


def check_latent_run(path: str) -> None:
    """Raise :class:`RunError` unless ``path`` is a finished VAE run folder (no TensorFlow)."""
    run = read_run(Path(path))
    if run is None:
        raise RunError(f"--latent {path}: no such run folder; train one with "
                       "'python -m tfimagegen train vae --out DIR'")
    if run["model"] != "vae":
        raise RunError(f"--latent {path} holds a {run['model']} run; it must be a vae run "
                       "(its encoder and decoder make the latent space)")
    if not (Path(path) / FAMILIES["vae"].model_file).is_file():
        raise RunError(f"--latent {path}: the VAE run has not finished; rerun its train "
                       "command first")


def check_conditional_run(run_dir: Path) -> dict:
    """The ``run.json`` of a finished, class-conditional run, or :class:`RunError` (no TensorFlow).

    What ``synthetic-accuracy`` needs: a generator that can be asked for a class.
    """
    run = read_run(Path(run_dir))
    if run is None:
        raise RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
    if not run.get("recipe", {}).get("num_classes", 0):
        raise RunError(f"{run_dir} holds an unconditional {run['model']} run; it cannot be asked "
                       "for a class (train one without --unconditional)")
    if not (Path(run_dir) / family(run["model"]).model_file).is_file():
        raise RunError(f"{run_dir}: the run has not finished; rerun its train command first")
    return run


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
          unconditional: bool = False, latent: str | os.PathLike | None = None,
          verbose: int | str = "auto", build: Callable | None = None) -> Path:
    """Train (or resume) a run of a model family; returns the saved model file.

    ``model`` is ``"gan"``, ``"vae"`` or ``"diffusion"`` (a key of
    :data:`tfimagegen.families.FAMILIES`). Defaults are the notebooks'
    full-mode recipe (``gan.Recipe``, ``vae.Recipe``, ``diffusion.Recipe``)
    on ``data="mnist"`` with seed 0; ``quick`` uses its quick epochs and
    :data:`QUICK_IMAGES` images. An epoch is ``recipe.steps_per_epoch`` steps
    over the repeated, reshuffled training digits, so a run costs the same
    minutes whatever the data's size. Resuming, options not given are read back
    from ``run.json`` (:func:`resolve_options`). A VAE trains on the digits
    binarised at 0.5 (``data.binarize``) and, for mnist and fashion_mnist, is
    scored on their validation split after every epoch (``val_`` records in
    ``history.json``). A GAN and a diffusion model are class-conditional and
    train on the labels too, unless ``unconditional``. ``latent`` (diffusion
    only) names a finished VAE run: the model then learns that VAE's latent
    codes of the training digits and draws through its decoder.

    ``build(recipe, seed)`` swaps in a compiled model of your own (e.g.
    ``gan.build_gan(recipe, seed, generator=my_generator)``; a latent diffusion
    run also passes ``vae_model=`` and ``latents=``, as
    :func:`tfimagegen.diffusion.build_flow` takes them); ``run.json`` records
    its name under ``network``, and resuming needs the same one.

    Raises:
        RunError: as :func:`check_run_folder` and :func:`resolve_options`, bad
            numbers, another ``build`` than the run's, or data without the
            labels a conditional model needs.
    """
    out = Path(out)
    recipe, previous = check_run_folder(model, out, latent_dim, unconditional, latent)
    options = resolve_options(out, previous, recipe, epochs=epochs, seed=seed, data=data,
                              quick=quick)
    network = "recipe" if build is None else getattr(build, "__name__", "custom")
    if previous and previous.get("network", "recipe") != network:
        raise RunError(f"{out} holds a run of the network {previous.get('network', 'recipe')!r}, "
                       f"not {network!r}; pass the same build to resume it, or choose another "
                       "--out")
    images, labels = load_training_data(options["data"], options["quick"])
    _check_training_data(options["data"], images, labels, recipe.needs_labels,
                         getattr(recipe, "num_classes", 0))

    with run_lock(out):
        run = {"model": model, **options, "recipe": _settings(recipe), "network": network,
               "setup_seconds": (previous or {}).get("setup_seconds", 0.0)}
        write_json(out / "run.json", run)
        return _fit(family(model), out, recipe, run, images, labels, build, verbose)


def _fit(fam: Family, out: Path, recipe, run: dict, images: np.ndarray,
         labels: np.ndarray | None, build: Callable | None, verbose: int | str) -> Path:
    """The training part of :func:`train`, once the folder is held and recorded."""
    import keras

    from tfimagegen import training

    keras.utils.set_random_seed(run["seed"])
    module = fam.load()
    start = time.perf_counter()
    net, dataset, validation = module.train_setup(recipe, run, images, labels, build)
    run["setup_seconds"] = round(run["setup_seconds"] + time.perf_counter() - start, 3)
    write_json(out / "run.json", run)
    steps = -(-len(images) // recipe.batch_size) if run["quick"] else recipe.steps_per_epoch
    z = training.fixed_latents(10 * getattr(net, "num_classes", 0) or 64, net.noise_shape,
                               run["seed"])
    try:
        training.fit_run(net, dataset, out, run["epochs"], z, verbose=verbose,
                         steps_per_epoch=steps, validation_data=validation)
    except training.DamagedBackupError as err:
        raise RunError(str(err)) from None
    training.finish_run(net, out, z)
    path = out / fam.model_file
    with atomic_path(path) as tmp:
        module.saved_model(net).save(tmp)
    return path


def load_run_model(run_dir: Path):
    """The saved model of a finished run and its ``run.json``: ``(model, run)``.

    A GAN run gives its (EMA) generator, a VAE run the whole :class:`vae.VAE`,
    a diffusion run its :class:`diffusion.FlowMatching`. Loaded with
    ``safe_mode=True``.

    Raises:
        RunError: not a run folder, one whose training has not finished, or a
            model file that cannot be loaded (damaged, or refused by
            ``safe_mode`` because it would run code, e.g. a ``Lambda`` layer).
    """
    run = read_run(Path(run_dir))
    if run is None:
        raise RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
    fam = family(run["model"])
    path = Path(run_dir) / fam.model_file
    if not path.is_file():
        raise RunError(f"{path} is missing: the run has not finished; rerun its train command")
    import keras

    fam.load()  # registers the family's classes for loading

    try:
        return keras.saving.load_model(path, safe_mode=True), run
    except Exception as err:  # zip, h5py, JSON or Keras' own errors: say which file, in a line
        raise RunError(f"{path} cannot be loaded ({first_line(err)}); retrain the run into "
                       "another --out") from None


def sample(run_dir: Path, num: int, seed: int = 0, **options) -> np.ndarray:
    """``num`` generated digits from a finished run: uint8 ``(num, 28, 28, 1)``.

    A GAN run gives its generator's images, a VAE run its decoder's pixel
    means (not binarised), a diffusion run the end of its sampler's path, all
    from Gaussian noise drawn with ``seed``; a conditional run cycles through
    the classes (see :func:`sample_with_labels`, which also takes ``options``).

    Raises:
        RunError: not a run folder, one whose training has not finished, ``num``
            outside [1, :data:`MAX_SAMPLES`], a bad seed or option.
    """
    return sample_with_labels(run_dir, num, seed, **options)[0]


def check_sample_options(run: dict, label: int | None = None, **options) -> dict:
    """The given (not ``None``) ``sample`` options, checked against a run's record.

    Needs no TensorFlow. ``options`` are those of the family's recipe's
    ``sample_options`` (diffusion: ``steps`` and ``guidance``).

    Raises:
        RunError: an option the run's family does not take, a bad value, or a
            ``label`` the run cannot draw.
    """
    recipe = family(run["model"]).recipe
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in recipe.sample_options:
            raise RunError(f"--{key} is for " + ", ".join(
                name for name, fam in FAMILIES.items() if key in fam.recipe.sample_options)
                + f" runs; {run['model']} runs take no --{key}")
    if "steps" in given and not (isinstance(given["steps"], int) and 1 <= given["steps"]
                                 <= MAX_STEPS):
        raise RunError(f"--steps must be an int in [1, {MAX_STEPS}], got {given['steps']!r}")
    if "guidance" in given and not (0 <= given["guidance"] <= MAX_GUIDANCE):
        raise RunError(f"--guidance must be a number in [0, {MAX_GUIDANCE:g}], got "
                       f"{given['guidance']!r}")
    num_classes = run.get("recipe", {}).get("num_classes", 0)
    if label is not None and not 0 <= label < num_classes:
        raise RunError(f"--label {label}: " + (f"this run draws classes 0 to {num_classes - 1}"
                                               if num_classes else
                                               "this run is unconditional; it takes no label"))
    return given


def sample_with_labels(run_dir: Path, num: int, seed: int = 0, label: int | None = None,
                       **options) -> tuple[np.ndarray, np.ndarray | None]:
    """Digits as in :func:`sample` and the class each was drawn as.

    Args:
        label: for a conditional run, draw only this class; default
            ``0, 1, …, 9, 0, …`` (:func:`tfimagegen.gan.cycle_labels`).
        options: the family's sample options, e.g. ``steps=`` and ``guidance=``
            for a diffusion run (default: the run's recipe).

    Returns:
        ``(images, labels)``: uint8 ``(num, 28, 28, 1)`` and int32 ``(num,)``,
        or ``None`` for a run whose model takes no labels.

    Raises:
        RunError: as :func:`sample`, or a ``label`` or option the run cannot take.
    """
    if not 1 <= num <= MAX_SAMPLES:
        raise RunError(f"--num must be in [1, {MAX_SAMPLES:,}], got {num:,}")
    _check_seed(seed)
    run = read_run(Path(run_dir))  # checked before TensorFlow loads: a quick, clean error
    if run is None:
        raise RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
    options = check_sample_options(run, label, **options)
    saved, run = load_run_model(run_dir)

    import tensorflow as tf

    from tfimagegen import gan

    module = family(run["model"]).load()
    noise = tf.random.stateless_normal((num, *module.noise_shape(saved)), seed=[seed, 0])
    num_classes = run.get("recipe", {}).get("num_classes", 0)
    labels = None
    if num_classes:
        labels = (gan.cycle_labels(num, num_classes) if label is None
                  else np.full(num, label, np.int32))
    return module.generate(saved, noise, labels, **options), labels


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
