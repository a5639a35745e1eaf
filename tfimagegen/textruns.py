"""Finished CLIP runs as other commands use them, checked before TensorFlow loads.

``train diffusion --latent VAE_RUN --text CLIP_RUN`` checks :func:`check_text_run`
and :func:`check_text_data`; ``sample DIR --prompt TEXT`` checks
:func:`check_prompt` against the vocabulary the run keeps beside its model
(:data:`tfimagegen.text.VOCABULARY_FILE`), so a word the model never saw is
one line, not TensorFlow's start-up messages.
"""

from __future__ import annotations

from pathlib import Path

from tfimagegen import rundata
from tfimagegen.runfolder import RunError, check_finished_run, read_run
from tfimagegen.text import VOCABULARY_FILE, Vocabulary

__all__ = ["check_text_run", "check_text_data", "is_text_run", "check_prompt"]


def check_text_run(path: str) -> dict:
    """The ``run.json`` of the finished CLIP run folder ``path``, or :class:`RunError`."""
    return check_finished_run(path, "--text", "clip", "its text encoder reads the captions",
                              "train clip --data emoji --out DIR")


def check_text_data(clip_run: str, record: dict) -> None:
    """Raise :class:`RunError` unless the CLIP run was trained on the source of ``record``
    (its vocabulary is the words of that source's training captions)."""
    source = rundata.recorded(read_run(Path(clip_run)))["source"]
    if source != record["source"]:
        raise RunError(f"--text {clip_run} was trained on {source}, not on {record['source']}; "
                       "train the CLIP run on this --data first")


def is_text_run(run: dict) -> bool:
    """Whether a run's model draws from captions (a diffusion run trained with ``--text``)."""
    return bool(run.get("recipe", {}).get("text"))


def check_prompt(run_dir: Path, run: dict, prompt: str) -> Vocabulary:
    """The vocabulary of a text-conditioned run, once ``prompt`` is known to fit it.

    Raises:
        RunError: a run that is not text-conditioned, an empty prompt, a word outside
            the vocabulary (named), or too many words.
    """
    if not is_text_run(run):
        raise RunError(f"--prompt: {run_dir} holds a {run['model']} run that is not "
                       "text-conditioned (train diffusion with --latent and --text)")
    path = Path(run_dir) / VOCABULARY_FILE
    if not path.is_file():
        raise RunError(f"{path} is missing: the run has not finished; rerun its train command")
    vocabulary = Vocabulary.load(Path(run_dir))
    try:
        vocabulary.check(prompt)
    except ValueError as err:
        raise RunError(str(err)) from None
    return vocabulary
