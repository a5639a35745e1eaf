"""A run folder on disk: its record (``run.json``), its lock, and its saved model.

Needs no TensorFlow until :func:`load_run_model`. :mod:`tfimagegen.runs`
trains and samples through these; the model families' modules use them too
(a latent diffusion run loads its VAE run), so they live apart from ``runs``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tfimagegen.data import first_line
from tfimagegen.families import FAMILIES, Family

__all__ = ["RunError", "family", "read_run", "check_finished_run", "run_lock", "check_unlocked",
           "check_seed", "load_run_model", "LOCK_NAME", "MAX_SEED"]

MAX_SEED = 2**32  # keras.utils.set_random_seed seeds NumPy, which takes [0, 2**32)
LOCK_NAME = ".lock"  # held (flock) by the process training into a run folder


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


def check_finished_run(path: str, option: str, model: str, why: str, train: str) -> dict:
    """The ``run.json`` of the finished ``model`` run folder ``path`` that ``option`` names,
    or :class:`RunError` saying what is wrong (no TensorFlow).

    ``why`` says what the run is for ("its text encoder reads the captions"), ``train``
    how to make one ("train clip --data emoji --out DIR").
    """
    run = read_run(Path(path))
    if run is None:
        raise RunError(f"{option} {path}: no such run folder; train one with "
                       f"'python -m tfimagegen {train}'")
    if run["model"] != model:
        raise RunError(f"{option} {path} holds a {run['model']} run; it must be a {model} run "
                       f"({why})")
    if not (Path(path) / FAMILIES[model].model_file).is_file():
        raise RunError(f"{option} {path}: the {model.upper()} run has not finished; rerun its "
                       "train command first")
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


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < MAX_SEED:
        raise RunError(f"--seed must be an int in [0, 2**32), got {seed!r}")
    return int(seed)


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
