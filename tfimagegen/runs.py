"""Training runs behind the CLI: ``train gan|vae|diffusion`` and ``sample``.

A run folder (see :mod:`tfimagegen.training`) starts with ``run.json``, which
says which model family it holds (a key of :data:`tfimagegen.families.FAMILIES`);
that is how ``sample`` knows what to load and how a rerun knows it may resume.
Nothing here knows what a GAN is: each family's module does its part through
the same four functions. Everything here is also callable from Python.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfimagegen import rundata, textruns, vaeruns
from tfimagegen.families import FAMILIES, Family
from tfimagegen.files import atomic_path, user_cache_folder, write_json
from tfimagegen.runfolder import (  # noqa: F401  (re-exported: runs.RunError, ...)
    LOCK_NAME,
    MAX_SEED,
    RunError,
    check_seed,
    check_unlocked,
    family,
    load_run_model,
    read_run,
    run_lock,
)

QUICK_IMAGES = rundata.QUICK_IMAGES  # --quick trains on this many images
MAX_SAMPLES = 100_000  # sample --num: 78 MB of uint8 digits
MAX_STEPS = 1000  # sample --steps: sampler steps of a diffusion run
MAX_GUIDANCE = 100.0  # sample --guidance: classifier-free guidance weight
RUNS_ENV = "TFIMAGEGEN_RUNS"  # where the lessons keep their run folders (lessons_folder)


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
    return user_cache_folder() / "runs"


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


def load_training_data(source: str, quick: bool = False, split: str = "train"
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(images, labels)`` of ``--data`` as :func:`tfimagegen.rundata.load` reads it.

    Images are uint8 ``(N, S, S, C)``; labels int32 ``(N,)``, or ``None``.

    Raises:
        RunError: as :func:`tfimagegen.rundata.load`.
    """
    found = rundata.load(source, split, quick)
    return found.images, found.labels


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a ``train`` call will do, checked before TensorFlow loads (:func:`plan`).

    ``recipe`` is fitted to the data, ``options`` are the run's settings
    (:func:`resolve_options`), and ``loaded`` holds the training data when
    reading it needed no TensorFlow (else ``None``: a Keras source, loaded by
    :func:`execute`).
    """

    model: str
    out: Path
    recipe: object
    previous: dict | None
    options: dict
    loaded: rundata.RunData | None


def plan(model: str, out: Path, *, epochs: int | None = None, seed: int | None = None,
         data: str | os.PathLike | None = None, quick: bool | None = None,
         latent_dim: int | None = None, unconditional: bool = False,
         latent: str | os.PathLike | None = None, downsample: int | None = None,
         latent_channels: int | None = None, image_size: int | None = None,
         fit: str | None = None, channels: int | None = None,
         text: str | os.PathLike | None = None) -> Plan:
    """Check everything a ``train`` call could get wrong, without TensorFlow.

    The options are :func:`train`'s. The data is read (except a Keras source,
    whose shape and classes are known) and the recipe fitted to it
    (``recipe.for_data``): a conditional model gets the data's classes, a VAE
    the likelihood and code of its images. Resuming, the recipe and the data
    must be those of the run.

    Raises:
        RunError: as :func:`check_run_folder`, :func:`resolve_options` and
            :func:`tfimagegen.rundata.load`; data without the labels a
            conditional model needs; a run made on other data, or a ``latent``
            VAE run made on other data or another shape.
    """
    out = Path(out)
    recipe, previous = check_run_folder(model, out, latent_dim, unconditional, latent,
                                        downsample, latent_channels, text)
    options = resolve_options(out, previous, recipe, epochs=epochs, seed=seed, data=data,
                              quick=quick, image_size=image_size, fit=fit, channels=channels)
    if recipe.needs_labels and rundata.unlabelled_folder(options["data"]):
        raise _no_labels(options["data"])  # known from the file list, before decoding
    record, loaded = rundata.describe(options["data"], options["quick"],
                                      **rundata.sized_options(options))
    if recipe.needs_labels and not record["num_classes"]:
        raise _no_labels(options["data"])
    if recipe.needs_captions and (loaded is None or loaded.captions is None):
        raise RunError(f"--data {options['data']} has no captions ({model} runs learn from a "
                       "caption per image: emoji have their Unicode names, a folder gets them "
                       "from a metadata.jsonl, an .npz file from its 'captions' array)")
    if recipe.needs_labels and record["num_classes"] < 2:
        raise RunError(f"--data {options['data']} has one class; a conditional model needs "
                       "at least 2: pass --unconditional")
    recipe = recipe.for_data(num_classes=record["num_classes"], binary=rundata.binary(record),
                             flat_code=latent_dim is not None)
    factor = getattr(recipe, "downsample", 0)
    if factor and record["shape"][0] % factor:
        raise RunError(f"--downsample {factor}: the side of {options['data']}'s images, "
                       f"{record['shape'][0]}, is not divisible by {factor}; choose "
                       f"--image-size (e.g. {record['shape'][0] // factor * factor}) or "
                       "--downsample 4")
    check_recipe(out, recipe, previous)
    check_same_data(out, previous, record)
    if getattr(recipe, "latent", ""):
        vaeruns.check_latent_data(recipe.latent, record)
    if getattr(recipe, "text", ""):
        textruns.check_text_data(recipe.text, record)
    return Plan(model, out, recipe, previous, options, loaded)


def _no_labels(source: str) -> RunError:
    where = ("an npz file needs the key 'y' or 'labels'" if rundata.is_npz(source) else
             "a folder needs one subfolder per class")
    return RunError(f"--data {source} has no labels ({where}); a conditional model is told "
                    "which class to draw, so it needs them: add them, or pass --unconditional")


def check_same_data(out: Path, previous: dict | None, record: dict) -> None:
    """Raise :class:`RunError` if ``out`` holds a run made on other data than ``record``.

    The shape and classes must agree; the fingerprint too, where both have one
    (a Keras source has one once it is loaded).
    """
    if not previous:
        return
    before = rundata.recorded(previous)
    hint = "rerun with the --data it was made with, or choose another --out"
    if list(before["shape"]) != list(record["shape"]):
        raise RunError(f"{out} holds a run trained on {rundata.shape_text(before['shape'])} "
                       f"images, not {rundata.shape_text(record['shape'])}; {hint}")
    if before["num_classes"] and record["num_classes"] and \
            list(before["class_names"]) != list(record["class_names"]):
        raise RunError(f"{out} holds a run trained on the classes "
                       f"{', '.join(before['class_names'][:4])}..., not "
                       f"{', '.join(record['class_names'][:4])}...; {hint}")
    if before.get("fingerprint") and record.get("fingerprint") and \
            before["fingerprint"] != record["fingerprint"]:
        raise RunError(f"{out} holds a run trained on other images ({before['count']:,}, "
                       f"fingerprint {before['fingerprint']}), not these ({record['count']:,}, "
                       f"{record['fingerprint']}); {hint}")


def check_run_folder(model: str, out: Path, latent_dim: int | None = None,
                     unconditional: bool = False, latent: str | os.PathLike | None = None,
                     downsample: int | None = None, latent_channels: int | None = None,
                     text: str | os.PathLike | None = None):
    """The recipe a ``train`` call starts from, and the run ``out`` holds.

    Needs no TensorFlow, so the command line calls it before TensorFlow loads.
    The recipe is not yet fitted to the data (:func:`plan` does that and
    compares it with the run's, :func:`check_recipe`).

    Args:
        model: a family of :data:`tfimagegen.families.FAMILIES`.
        latent_dim, unconditional, latent, downsample, latent_channels, text:
            ``train``'s options, for the families that take them (the recipe's
            ``configure`` says).

    Returns:
        ``(recipe, previous)``: the family's recipe with the options applied,
        and the folder's ``run.json`` (``None`` for a new run).

    Raises:
        RunError: an unknown model, bad options, a ``latent`` folder that is not
            a finished VAE run, a ``text`` folder that is not a finished CLIP run,
            or a folder holding another model's run.
    """
    fam = family(model)
    extra = {}
    if text is not None:
        text = os.fspath(text)
        if hasattr(fam.recipe, "for_text"):
            textruns.check_text_run(text)
    if latent is not None:
        latent = os.fspath(latent)
        if hasattr(fam.recipe, "for_latents"):
            vae_run = vaeruns.check_latent_run(latent)
            extra["spatial"] = bool(vae_run.get("recipe", {}).get("downsample", 0))
    try:
        recipe = fam.recipe().configure(latent_dim=latent_dim, unconditional=unconditional,
                                        latent=latent, downsample=downsample,
                                        latent_channels=latent_channels, text=text, **extra)
    except ValueError as err:
        raise RunError(str(err)) from None
    if latent is not None:
        recipe = dataclasses.replace(recipe, latent=str(Path(latent).resolve()))
    if text is not None:
        recipe = dataclasses.replace(recipe, text=str(Path(text).resolve()))
    previous = read_run(out)
    if previous is not None and previous["model"] != model:
        raise RunError(f"{out} holds a {previous['model']} run, not a {model} run")
    return recipe, previous


def check_recipe(out: Path, recipe, previous: dict | None) -> None:
    """Raise :class:`RunError` if ``out`` holds a run made with other recipe settings
    (other options, or an older version's defaults)."""
    before = dict((previous or {}).get("recipe", {}))
    if before:
        before = {**recipe.legacy, **before}
    settings = _settings(recipe)
    changed = {k: v for k, v in before.items() if k in settings and settings[k] != v}
    if changed:
        raise RunError(f"{out} holds a run made with another recipe ("
                       + ", ".join(f"{k} {v!r}, not {settings[k]!r}" for k, v in changed.items())
                       + "); rerun with the options it was made with, or choose another --out")


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
                    seed: int | None = None, data: str | os.PathLike | None = None,
                    quick: bool | None = None, image_size: int | None = None,
                    fit: str | None = None, channels: int | None = None) -> dict:
    """The ``epochs``, ``seed``, ``data``, ``quick``, ``image_size``, ``fit`` and
    ``channels`` a ``train`` call will use.

    A new run takes what is given, else the defaults (the recipe's epochs,
    seed 0, ``"mnist"``, not quick, the source's own size). ``data`` is
    recorded as :func:`tfimagegen.rundata.source_name` gives it: a folder or
    file by its absolute path. A run being resumed takes what its ``run.json``
    recorded for anything not given; a given value that differs is an error,
    except ``epochs``, which may grow to train more. Needs no TensorFlow.

    Raises:
        RunError: ``epochs < 1``, fewer epochs than the record's, or an option that
            conflicts with the record.
    """
    previous = dict(previous or {})
    if data is not None:
        data = rundata.source_name(data)
    if previous.get("data"):  # runs made before paths were recorded absolute
        previous["data"] = rundata.source_name(previous["data"])
    options = {}
    given = {"seed": seed, "data": data, "quick": quick, "image_size": image_size, "fit": fit,
             "channels": channels}
    for key, value in given.items():
        recorded = previous.get(key)
        if value is not None and recorded is not None and value != recorded:
            raise RunError(_conflict(out, key, recorded, value))
        options[key] = recorded if value is None else value
    options["seed"] = check_seed(0 if options["seed"] is None else options["seed"])
    options["data"] = options["data"] or "mnist"
    options["quick"] = bool(options["quick"])
    if epochs is None:
        epochs = previous.get("epochs") or (recipe.quick_epochs if options["quick"]
                                            else recipe.epochs)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise RunError(f"--epochs must be an int >= 1, got {epochs!r}")
    if epochs < previous.get("epochs", 0):
        raise RunError(f"{out} holds a run of {previous['epochs']} epochs; --epochs can grow "
                       f"it, not shrink it to {epochs} (rerun without --epochs to resume it)")
    options["epochs"] = epochs
    return options


def _conflict(out: Path, key: str, recorded, value) -> str:
    if key == "quick":
        return (f"{out} holds a {'quick' if recorded else 'full'} run; rerun "
                f"{'with' if recorded else 'without'} --quick to resume it, or choose "
                "another --out")
    flag = "--" + key.replace("_", "-")
    return (f"{out} holds a run made with {flag} {recorded}, not {value}; rerun with {flag} "
            f"{recorded} (or without {flag}) to resume it, or choose another --out")


def train(model: str, out: Path, *, epochs: int | None = None, seed: int | None = None,
          data: str | os.PathLike | None = None, quick: bool | None = None,
          latent_dim: int | None = None, unconditional: bool = False,
          latent: str | os.PathLike | None = None, downsample: int | None = None,
          latent_channels: int | None = None, image_size: int | None = None,
          fit: str | None = None, channels: int | None = None,
          text: str | os.PathLike | None = None,
          verbose: int | str = "auto", build: Callable | None = None) -> Path:
    """Train (or resume) a run of a model family; returns the saved model file.

    ``model`` is ``"gan"``, ``"vae"``, ``"diffusion"`` or ``"clip"`` (a key of
    :data:`tfimagegen.families.FAMILIES`). Defaults are the notebooks'
    full-mode recipe (``gan.Recipe``, ``vae.Recipe``, ``diffusion.Recipe``)
    on ``data="mnist"`` with seed 0; ``quick`` uses its quick epochs and
    :data:`QUICK_IMAGES` images. ``data`` is any source of
    :data:`tfimagegen.data.DATA_SOURCES`, a folder of images or an ``.npz``
    file; ``image_size`` (emoji, folders), ``fit`` and ``channels`` (folders)
    as :func:`tfimagegen.data.load_source` takes them. The models take their
    image shape and classes from the data (``run.json`` records them under
    ``dataset``). An epoch is ``recipe.steps_per_epoch`` steps over the
    repeated, reshuffled training images, so a run costs the same minutes
    whatever the data's size. Resuming, options not given are read back from
    ``run.json`` (:func:`resolve_options`), and the data must be the same.

    A VAE on digits (mnist, fashion_mnist, 28x28 grey npz files) trains on
    them binarised at 0.5 with a flat code of ``latent_dim``; on any other
    images it models dequantised pixels with a Gaussian and, by default, a
    spatial code (``downsample`` 4 or 8, ``latent_channels``). Where the
    source has a validation split, the VAE is scored on it after every epoch
    (``val_`` records in ``history.json``). A GAN and a diffusion model are
    class-conditional and train on the labels too, unless ``unconditional``.
    ``latent`` (diffusion only) names a finished VAE run on the same data: the
    model then learns that VAE's latent codes and draws through its decoder;
    with ``text`` too, a finished CLIP run on the same source, it draws what a
    caption says (``sample(..., prompt=)``). A ``clip`` run learns images and
    their captions (:mod:`tfimagegen.clip`); it is not a generator.

    ``build(recipe, seed)`` swaps in a compiled model of your own (e.g.
    ``gan.build_gan(recipe, seed, generator=my_generator)``; a latent diffusion
    run also passes ``vae_model=`` and ``latents=``, as
    :func:`tfimagegen.diffusion.build_flow` takes them); ``run.json`` records
    its name under ``network``, and resuming needs the same one.

    Raises:
        RunError: as :func:`plan`, or another ``build`` than the run's.
    """
    return execute(plan(model, out, epochs=epochs, seed=seed, data=data, quick=quick,
                        latent_dim=latent_dim, unconditional=unconditional, latent=latent,
                        downsample=downsample, latent_channels=latent_channels,
                        image_size=image_size, fit=fit, channels=channels, text=text),
                   verbose=verbose, build=build)


def execute(planned: Plan, verbose: int | str = "auto", build: Callable | None = None) -> Path:
    """Train what :func:`plan` checked; returns the saved model file (see :func:`train`).

    Raises:
        RunError: another ``build`` than the run's, or (a Keras source, once
            loaded) other data than the run's.
    """
    out, previous, options = planned.out, planned.previous, planned.options
    network = "recipe" if build is None else getattr(build, "__name__", "custom")
    if previous and previous.get("network", "recipe") != network:
        raise RunError(f"{out} holds a run of the network {previous.get('network', 'recipe')!r}, "
                       f"not {network!r}; pass the same build to resume it, or choose another "
                       "--out")
    found = planned.loaded
    if found is None:  # a Keras source: its fingerprint is known once it is loaded
        found = rundata.load(options["data"], "train", options["quick"],
                             **rundata.sized_options(options))
        check_same_data(out, previous, found.record)
    with run_lock(out):
        run = {"model": planned.model, **options, "dataset": found.record,
               "recipe": _settings(planned.recipe), "network": network,
               "setup_seconds": (previous or {}).get("setup_seconds", 0.0)}
        write_json(out / "run.json", run)
        return _fit(family(planned.model), out, planned.recipe, run, found, build, verbose)


def _fit(fam: Family, out: Path, recipe, run: dict, found: rundata.RunData,
         build: Callable | None, verbose: int | str) -> Path:
    """The training part of :func:`train`, once the folder is held and recorded."""
    import keras

    from tfimagegen import training

    keras.utils.set_random_seed(run["seed"])
    module = fam.load()
    start = time.perf_counter()
    extra = {"captions": found.captions} if recipe.needs_captions else {}
    net, dataset, validation = module.train_setup(recipe, {**run, "out": str(out)},
                                                  found.images, found.labels, build, **extra)
    run["setup_seconds"] = round(run["setup_seconds"] + time.perf_counter() - start, 3)
    write_json(out / "run.json", run)
    steps = (-(-len(found.images) // recipe.batch_size) if run["quick"]
             else recipe.steps_per_epoch)
    z = None if not fam.generator else training.fixed_latents(
        10 * getattr(net, "num_classes", 0) or 64, net.noise_shape, run["seed"])
    try:
        training.fit_run(net, dataset, out, run["epochs"], z, verbose=verbose,
                         steps_per_epoch=steps, validation_data=validation)
    except training.DamagedBackupError as err:
        raise RunError(str(err)) from None
    if z is not None:
        training.finish_run(net, out, z)
    path = out / fam.model_file
    with atomic_path(path) as tmp:
        module.saved_model(net).save(tmp)
    return path


def sample(run_dir: Path, num: int, seed: int = 0, **options) -> np.ndarray:
    """``num`` generated images from a finished run: uint8 ``(num, S, S, C)``, the run's shape.

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


def class_index(run: dict, name: str) -> int:
    """The label of the class called ``name`` in a run's data (``sample --class NAME``).

    Raises:
        RunError: an unconditional run, or a name the data does not have.
    """
    if not run.get("recipe", {}).get("num_classes", 0):
        raise RunError(f"--class {name}: this run is unconditional; it takes no class")
    names = rundata.recorded(run)["class_names"]
    if name not in names:
        raise RunError(f"--class {name!r} is not a class of this run's data; it has "
                       + ", ".join(map(repr, names)))
    return names.index(name)


def check_labels(run: dict, labels, class_names: tuple[str, ...] | None = None) -> np.ndarray:
    """Labels for ``sample --labels-from``: int32, in the run's classes (and, if the file
    names its classes, the same names as the run's data).

    Raises:
        RunError: an unconditional run, labels that are not integers in
            ``[0, num_classes)``, or other class names.
    """
    num_classes = run.get("recipe", {}).get("num_classes", 0)
    if not num_classes:
        raise RunError("--labels-from: this run is unconditional; it takes no labels")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or not len(labels):
        raise RunError(f"--labels-from: labels must be a non-empty list of integers, got "
                       f"{labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise RunError(f"--labels-from: labels must be in [0, {num_classes}), got "
                       f"{labels.min()} to {labels.max()}")
    names = rundata.recorded(run)["class_names"]
    if class_names is not None and list(class_names) != list(names):
        raise RunError("--labels-from: the file's class_names are not this run's ("
                       + ", ".join(list(map(str, class_names))[:3]) + "... against "
                       + ", ".join(names[:3]) + "...)")
    return labels.astype(np.int32)




def sample_with_labels(run_dir: Path, num: int, seed: int = 0, label: int | None = None,
                       labels=None, label_names: tuple[str, ...] | None = None,
                       prompt: str | None = None, **options
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """Images as in :func:`sample` and the class each was drawn as.

    Args:
        label: for a conditional run, draw only this class; default
            ``0, 1, …, K - 1, 0, …`` (:func:`tfimagegen.gan.cycle_labels`).
        labels: for a conditional run, the class of each image instead (at
            least ``num``; the first ``num`` are used), e.g. a test split's
            labels, so the samples follow its class proportions.
        label_names: the class names ``labels`` index, if known (a file's
            ``class_names``); they must be the run's.
        prompt: for a text-conditioned run (``train diffusion --text``), the
            caption every image is drawn from; such a run needs one.
        options: the family's sample options, e.g. ``steps=`` and ``guidance=``
            for a diffusion run (default: the run's recipe).

    Returns:
        ``(images, labels)``: uint8 ``(num, S, S, C)`` and int32 ``(num,)``,
        or ``None`` for a run whose model takes no labels (a prompt's run too).

    Raises:
        RunError: as :func:`sample`, a ``label``, ``labels`` or option the
            run cannot take, a run that is not a generator (``clip``), or a
            ``prompt`` the run cannot take (:func:`tfimagegen.textruns.check_prompt`).
    """
    if not 1 <= num <= MAX_SAMPLES:
        raise RunError(f"--num must be in [1, {MAX_SAMPLES:,}], got {num:,}")
    check_seed(seed)
    run = read_run(Path(run_dir))  # checked before TensorFlow loads: a quick, clean error
    if run is None:
        raise RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
    if not family(run["model"]).generator:
        raise RunError(f"{run_dir} holds a {run['model']} run, which draws nothing: it scores "
                       "images against captions; sample a diffusion run trained with "
                       f"--text {run_dir}")
    tokens = _prompt_tokens(run_dir, run, num, prompt, label, labels)
    options = check_sample_options(run, label, **options)
    if labels is not None:
        if label is not None:
            raise RunError("give --label (or --class) or --labels-from, not both")
        labels = check_labels(run, labels, label_names)
        if len(labels) < num:
            raise RunError(f"--labels-from holds {len(labels):,} labels, fewer than --num "
                           f"{num:,}")
        labels = labels[:num]
    saved, run = load_run_model(run_dir)

    import tensorflow as tf

    from tfimagegen import gan

    module = family(run["model"]).load()
    noise = tf.random.stateless_normal((num, *module.noise_shape(saved)), seed=[seed, 0])
    if tokens is not None:
        return module.generate(saved, noise, tokens, **options), None
    num_classes = run.get("recipe", {}).get("num_classes", 0)
    if num_classes and labels is None:
        labels = (gan.cycle_labels(num, num_classes) if label is None
                  else np.full(num, label, np.int32))
    return module.generate(saved, noise, labels, **options), labels


def _prompt_tokens(run_dir: Path, run: dict, num: int, prompt: str | None, label, labels
                   ) -> np.ndarray | None:
    """int32 ``(num, length)`` rows of ``prompt`` for a text run (``None`` for any other),
    refusing what does not go with a prompt; no TensorFlow."""
    if prompt is None:
        if textruns.is_text_run(run):
            raise RunError(f"{run_dir} draws what a caption says; give --prompt \"TEXT\" (e.g. "
                           "--prompt \"cat face\")")
        return None
    if label is not None or labels is not None:
        raise RunError("--prompt says what to draw; give it without --label, --class or "
                       "--labels-from")
    vocabulary = textruns.check_prompt(run_dir, run, prompt)
    return vocabulary.encode([prompt] * num)


def class_names(run_dir: Path) -> tuple[str, ...]:
    """The class names of a run's data (empty for unlabelled data); no TensorFlow."""
    run = read_run(Path(run_dir)) or {}
    return tuple(rundata.recorded(run)["class_names"]) if run else ()
