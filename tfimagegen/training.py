"""Training plumbing shared by every generative model: callbacks and a run folder.

Taught in ``notebooks/02_gan.ipynb``; nothing here knows what a GAN is. A model
plugs in by having ``model.sample(z)`` (float images), ``model.output_range``
(their range, e.g. ``(-1.0, 1.0)``) and ``model.noise_shape`` (one example's
``z``); a conditional model also has ``model.num_classes``, and its grids get
one column per class.

A *run folder* holds one training run:

* ``backup/``: ``keras.callbacks.BackupAndRestore`` state, written after every
  epoch (:class:`RunBackup`: to temporary names, then renamed), so a killed run
  loses at most one epoch and the same command resumes it;
* ``grids/epoch_NNNN.png``: the same fixed latent points decoded after each epoch;
* ``progress.gif``: those grids as an animation (imageio);
* ``history.json``: per-epoch losses and wall time (the epoch's steps, its
  checkpoint and its sample grid: all an epoch costs);
* ``samples.png`` and the saved model, written when training finishes.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import imageio.v3 as iio
import keras
import numpy as np
import tensorflow as tf

from tfimagegen import images
from tfimagegen.data import first_line
from tfimagegen.files import atomic_path, write_json

__all__ = ["SampleGrid", "StopOnNaN", "NaNLossError", "HistoryFile", "TimeBudget", "RunBackup",
           "DamagedBackupError", "fixed_latents",
           "sample_grid", "run_callbacks", "write_gif", "fit_run", "finish_run", "read_history"]


def fixed_latents(num: int, shape: int | tuple[int, ...], seed: int) -> tf.Tensor:
    """The monitoring noise: float32 ``(num, *shape)`` from N(0, 1), seeded.

    ``shape`` is one example's noise: ``latent_dim`` (an int) for a GAN or a
    VAE, ``(28, 28, 1)`` for a pixel-space diffusion model (``model.noise_shape``).
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return tf.random.stateless_normal((num, *shape), seed=[seed, 1])


def sample_grid(model, z: tf.Tensor, ncols: int | None = None) -> np.ndarray:
    """Decode ``z`` with ``model.sample`` and tile the images into one uint8 picture.

    ``ncols`` defaults to ``model.num_classes`` for a conditional model (whose
    ``sample`` cycles through the classes, so each column is one class), else 8.

    Returns:
        uint8 ``(rows * H, ncols * W)`` for greyscale images, ``(..., C)`` otherwise.
    """
    ncols = ncols or getattr(model, "num_classes", 0) or 8
    return images.tile(images.to_uint8(np.asarray(model.sample(z)), model.output_range), ncols)


def write_gif(frames: list[Path], path: Path, fps: float = 4.0) -> Path:
    """Assemble PNG frames into an animated GIF that loops forever (written atomically).

    The last frame is held two seconds longer, so the final result is visible.
    """
    pictures = np.stack([iio.imread(f) for f in frames])
    durations = [1000 / fps] * len(frames)
    durations[-1] += 2000
    with atomic_path(path) as tmp:  # Pillow takes one frame's duration as a number, not a list
        iio.imwrite(tmp, pictures, duration=durations if len(frames) > 1 else durations[0],
                    loop=0)
    return path


class SampleGrid(keras.callbacks.Callback):
    """After every epoch, decode the same latent points and save the grid as a PNG.

    Args:
        folder: where ``epoch_NNNN.png`` files go.
        z: the fixed latent points, ``(num, latent_dim)``; created once, reused
            every epoch so the grids show the *same* samples improving.
    """

    def __init__(self, folder: Path, z: tf.Tensor):
        super().__init__()
        self.folder, self.z = Path(folder), z

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        images.save_image(self.folder / f"epoch_{epoch + 1:04d}.png",
                          sample_grid(self.model, self.z))


class NaNLossError(RuntimeError):
    """Training stopped because a loss became NaN or infinite."""


class StopOnNaN(keras.callbacks.Callback):
    """Stop training with a clear message when any logged loss is NaN or infinite.

    It raises :class:`NaNLossError` rather than setting ``stop_training``: that
    way ``fit`` ends before the epoch-end backup, and ``backup/`` keeps the last
    good epoch instead of NaN weights.
    """

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        bad = {k: float(v) for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            raise NaNLossError(
                f"loss became {bad} at batch {batch}; lower the learning rate or check the "
                "data range (the last finished epoch is kept in backup/)")


class HistoryFile(keras.callbacks.Callback):
    """Append each epoch's logs and wall time to a JSON file that survives resumes.

    ``history.json`` is ``{"epochs": [{"epoch": 1, "seconds": ..., "<loss>": ...}, ...]}``.
    Written atomically after every epoch; on resume, epochs past the restored one
    (from a run killed mid-save) are dropped so the file matches the weights.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)

    def _read(self) -> list[dict]:
        if self.path.is_file():
            return json.loads(self.path.read_text())["epochs"]
        return []

    def on_train_begin(self, logs=None) -> None:
        start = getattr(self.model, "_initial_epoch", 0) or 0  # set by BackupAndRestore
        self.epochs = [e for e in self._read() if e["epoch"] <= start]

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self.started, 3)}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        self.epochs.append(record)
        write_json(self.path, {"epochs": self.epochs})


class TimeBudget(keras.callbacks.Callback):
    """Stop at the end of the first epoch that passes ``seconds`` of training.

    For comparing recipes at the same wall-clock budget (``benchmarks/``). After
    ``fit``, ``epochs`` says how many epochs ran.
    """

    def __init__(self, seconds: float):
        super().__init__()
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds!r}")
        self.seconds, self.epochs = seconds, 0

    def on_train_begin(self, logs=None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.epochs = epoch + 1
        if time.perf_counter() - self.start >= self.seconds:
            self.model.stop_training = True


class DamagedBackupError(RuntimeError):
    """A run folder's ``backup/`` cannot be restored; the message says what to do."""


class RunBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that never leaves a half-written checkpoint behind.

    Keras writes ``backup/latest.weights.h5`` in place, so a crash, ``kill -9``
    or a full disk during that write leaves a damaged file that every resume
    then fails on. Here the weights and the epoch record are written under
    temporary names and renamed over the old ones only once complete. A backup
    that cannot be restored anyway (a file damaged by other means) stops
    training with :class:`DamagedBackupError`, which names it and what to do.
    """

    def __init__(self, backup_dir: Path):
        super().__init__(str(backup_dir), delete_checkpoint=False)

    def on_train_begin(self, logs=None) -> None:
        try:
            super().on_train_begin(logs)
        except Exception as err:  # h5py, JSON or Keras errors: whatever the damage is
            raise DamagedBackupError(
                f"{self.backup_dir} cannot be restored ({first_line(err)}); delete that folder to "
                "train this run again from epoch 0, or choose another --out") from err

    def _save_model(self) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = Path(self._weights_path)
        partial = weights.with_name("partial.weights.h5")  # Keras needs the .weights.h5 suffix
        try:
            self.model.save_weights(filepath=str(partial), overwrite=True)
            with atomic_path(self._training_metadata_path) as tmp:
                tmp.write_text(json.dumps({"epoch": self._current_epoch,
                                           "batch": self._last_batch_seen}))
                os.replace(partial, weights)  # the weights first, then the epoch they belong to
        finally:
            partial.unlink(missing_ok=True)


def run_callbacks(out: Path, z: tf.Tensor | None) -> list[keras.callbacks.Callback]:
    """The callbacks of a run folder: resume, NaN stop, sample grids, history.

    :class:`HistoryFile` comes last, so an epoch's ``seconds`` include its
    checkpoint and its sample grid. ``z`` ``None`` (a model that is not a
    generator, such as CLIP): no sample grids.
    """
    out = Path(out)
    grids = [] if z is None else [SampleGrid(out / "grids", z)]
    return [RunBackup(out / "backup"), StopOnNaN(), *grids, HistoryFile(out / "history.json")]


def read_history(out: Path) -> list[dict]:
    """The per-epoch records of ``out/history.json`` (empty if there are none)."""
    path = Path(out) / "history.json"
    return json.loads(path.read_text())["epochs"] if path.is_file() else []


def fit_run(model: keras.Model, dataset: tf.data.Dataset, out: Path, epochs: int,
            z: tf.Tensor | None, verbose: int | str = "auto",
            validation_data: tf.data.Dataset | None = None,
            steps_per_epoch: int | None = None) -> list[dict]:
    """Train ``model`` into the run folder ``out``, resuming where it stopped.

    Rerunning after an interruption (even ``kill -9``) restores the last
    finished epoch from ``out/backup`` and carries on to ``epochs``. With
    ``validation_data``, each epoch's record also holds ``val_``-prefixed scores.
    ``steps_per_epoch`` is needed for a dataset that repeats forever
    (``data.as_dataset(..., repeat=True)``); ``None`` is one pass.

    Returns:
        The run's per-epoch history records.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
              callbacks=run_callbacks(out, z), verbose=verbose, shuffle=False,
              validation_data=validation_data)
    return read_history(out)


def finish_run(model: keras.Model, out: Path, z: tf.Tensor) -> None:
    """Write ``samples.png`` (grid of ``z``) and ``progress.gif`` (the epoch grids)."""
    out = Path(out)
    images.save_image(out / "samples.png", sample_grid(model, z))
    frames = sorted((out / "grids").glob("epoch_*.png"))
    if frames:
        write_gif(frames, out / "progress.gif")
