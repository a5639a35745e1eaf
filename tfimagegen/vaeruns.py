"""Finished VAE runs as other commands use them: scored (``elbo``) and as a latent space.

``likelihood`` is what ``python -m tfimagegen elbo`` does; ``check_latent_run``
and ``check_latent_data`` are what ``train diffusion --latent VAE_RUN`` checks
before TensorFlow loads. Importing this module loads no TensorFlow:
:func:`likelihood` imports :mod:`tfimagegen.vae` only once its checks pass.
"""

from __future__ import annotations

from pathlib import Path

from tfimagegen import rundata
from tfimagegen.runfolder import (
    RunError,
    check_finished_run,
    check_seed,
    load_run_model,
    read_run,
)

__all__ = ["MAX_K", "likelihood", "check_latent_run", "check_latent_data"]

MAX_K = 100_000  # elbo --k: importance samples per image (decoded in bounded chunks)


def check_latent_data(vae_run: str, record: dict) -> None:
    """Raise :class:`RunError` unless the VAE run ``vae_run`` was trained on the source and
    shape of ``record`` (a ``run.json`` ``dataset`` record): a latent run's codes are
    that VAE's codes of these images."""
    vae_data = rundata.recorded(read_run(Path(vae_run)))
    if vae_data["source"] != record["source"] or list(vae_data["shape"]) != list(record["shape"]):
        raise RunError(f"--latent {vae_run} was trained on {vae_data['source']} "
                       f"({rundata.shape_text(vae_data['shape'])}), not on {record['source']} "
                       f"({rundata.shape_text(record['shape'])}); train the VAE on this --data "
                       "first")


def check_latent_run(path: str) -> dict:
    """The ``run.json`` of the finished VAE run folder ``path``, or :class:`RunError` (no
    TensorFlow)."""
    return check_finished_run(path, "--latent", "vae",
                              "its encoder and decoder make the latent space",
                              "train vae --out DIR")


def likelihood(run_dir: Path, data_path: str | None = None, k: int = 1, seed: int = 0) -> dict:
    """``{"elbo", "bits_per_dim"}`` and, for ``k > 1``, ``"iwae"`` and ``"k"``.

    Scores a finished VAE run on the images under the key ``x`` (or
    ``images``) of ``data_path``, or by default on the test split of the
    run's own source, as in training (binarised digits, or dequantised
    colour). The ELBO and IWAE bound are nats per image (higher is better);
    ``bits_per_dim`` is ``-elbo / (pixels x channels x ln 2)`` (lower is better).

    Raises:
        RunError: not a finished VAE run, ``k`` outside [1, :data:`MAX_K`], a bad
            seed, an unusable (or empty) data file, images of another shape
            than the run's, or no ``data_path`` for a run trained on a file.
    """
    if not 1 <= k <= MAX_K:
        raise RunError(f"--k must be in [1, {MAX_K:,}], got {k:,}")
    check_seed(seed)
    if data_path is not None:
        images = rundata.load(data_path, "test").images
    run = read_run(Path(run_dir)) or {}  # checked before TensorFlow loads: a quick, clean error
    if run.get("model", "vae") != "vae":
        raise RunError(f"{run_dir} holds a {run['model']} run; elbo needs a vae run "
                       "(a GAN has no likelihood)")
    if not run:
        raise RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
    record = rundata.recorded(run)
    if data_path is None:
        test = rundata.other_split(run, "test")
        if test is None:
            raise RunError(f"{run_dir} was trained on {record['source']}, which has no test "
                           "split: pass --data FILE.npz")
        images = test.images
    if list(images.shape[1:]) != list(record["shape"]):
        raise RunError(f"--data {data_path}: the run models {rundata.shape_text(record['shape'])} "
                       f"images, got {rundata.shape_text(images.shape[1:])}")
    net, run = load_run_model(run_dir)
    from tfimagegen import vae

    value = vae.elbo(net, images, seed=seed)
    result = {"elbo": value, "bits_per_dim": vae.bits_per_dim(value, images.shape[1:])}
    if k > 1:
        result.update(iwae=vae.iwae_bound(net, images, k, seed=seed), k=k)
    return result
