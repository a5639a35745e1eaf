"""Colour generators per CPU-minute, on emoji (issues #19 §5 and #20).

Run: ``.venv/bin/python benchmarks/colour.py [--data SOURCE] [--budget SECONDS] [--seed S]
[--image-size 32|64] [--only gan pixel latent latent8 dcgan ddim]`` (or ``make bench``,
which runs the defaults: emoji, 32 px, every arm but ``latent8``). Offline: everything
trains on the source's training split and is scored once on its test split.

Every generator gets the same wall-clock budget (default 600 s, ten CPU-minutes
on two cores), counted from its own training history, set-up included:

* **GAN**: ``train gan --data emoji`` (conditional on the nine groups);
* **flow, pixels**: ``train diffusion --data emoji``;
* **flow, latents**: ``train vae --data emoji`` (the spatial f = 4 code) for
  ``--vae-share`` of the budget, then ``train diffusion --latent`` for the
  rest, so the autoencoder's minutes count;
* **flow, latents f = 8** (``latent8``, issue #20): the same with ``train vae
  --downsample 8``, a code a quarter the size;
* **keras-io DCGAN** and **keras-io DDIM**: the recipes of
  keras.io/examples/generative/dcgan_overriding_train_step (CelebA faces at
  64 px) and keras.io/examples/generative/ddim (flowers at 64 px), rebuilt
  at 32 px as ``benchmarks/_anchors.py`` describes; unconditional, as
  keras-io's are.

``--data DIR`` runs the same arms on a folder of colour pictures (the recipes'
defaults were tuned on emoji only; ``benchmarks/unseen_colour.py`` writes two
folders unlike emoji and runs this on them), scored in a feature space trained
on that folder's training split (:func:`tfimagegen.features.for_source`).

``--image-size 64`` draws the glyphs at 64 px (the compute wall of issue #20).
The shipped emoji feature space sees 32 px, so 64-px samples, training and test
glyphs are all shrunk to 32 px (Lanczos, as the source draws them) before they
are scored; the sampling seconds are those of the 64-px models.

The runs live in ``outputs/bench_colour/BUDGETs/seedS/`` (``.../64px/BUDGETs/...``
at 64 px, ``.../FOLDER/BUDGETs/...`` for ``--data FOLDER``; a second call
resumes them up to the same budget, so it costs little more than the scoring;
a latent flow's VAE is left as its flow learnt it). Each row is scored by
``metrics.evaluate`` in the source's feature space, with SWD, on as many
samples as the test split has images; a conditional model draws the test
split's own labels, so its classes (emoji: groups) come in the test split's
proportions. The floor is the training images, scored the same way. ``class``
(read right) is the label accuracy over the share of real test images the
classifier reads right.
``1k draw s`` is the seconds a loaded model takes to draw 1,000 samples again
(the Python call in a notebook); ``first s``, for our runs, a fresh call's
(loading the run's model, tracing its sampler and drawing the 1,000, as
``sample --num 1000`` does after the process starts).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _anchors import DDIM, keras_io_dcgan  # noqa: E402
from PIL import Image  # noqa: E402

from tfimagegen import data, emoji, features, metrics, rundata, runfolder, runs, training  # noqa: E402

OUT = Path("outputs/bench_colour")
ARMS = ("gan", "pixel", "latent", "latent8", "dcgan", "ddim")
DATA, SIZE = "emoji", emoji.DEFAULT_SIZE  # use() sets these five, main() from its arguments
SPACE = features.EMOJI
TRAIN: rundata.RunData
TEST: rundata.RunData


def use(source: str, size: int) -> None:
    """Point every function here at ``source``'s pictures drawn at ``size`` px, scored in
    its feature space: the shipped one for emoji (64-px glyphs shrunk to its 32 px), one
    trained on the training split (at ``size``) for any other source."""
    global DATA, SIZE, SPACE, TRAIN, TEST
    DATA, SIZE = source, size
    sized = {} if size == emoji.DEFAULT_SIZE else {"image_size": size}
    TRAIN = rundata.load(source, "train", **sized)
    TEST = rundata.load(source, "test", **sized)
    SPACE = (features.EMOJI if rundata.source_name(source) == "emoji" else
             features.for_source(source, train=TRAIN, announce=print, **sized))


def for_scoring(images: np.ndarray) -> np.ndarray:
    """uint8 ``images`` at the scorer's side: as they are at 32 px, else shrunk (Lanczos)."""
    images, side = np.asarray(images), SPACE.image_shape[0]
    if images.shape[1] == side:
        return images
    return np.stack([np.asarray(Image.fromarray(x).resize((side, side),
                                                          Image.Resampling.LANCZOS))
                     for x in images])


def budget_run(model: str, out: Path, seconds: float, seed: int, **options) -> float:
    """Train one epoch, then resume while the mean epoch so far says more fit in
    ``seconds`` (set-up included); a finished run that no more epochs fit is left as it
    is. Returns the seconds the run's history says it took."""
    model_file = out / runs.family(model).model_file
    while True:
        run = runs.read_run(out)
        if run is None or not model_file.is_file():  # new, or stopped before it finished
            epochs = (run or {}).get("epochs", 1)
        else:
            spent = runs.train_seconds(out)
            per_epoch = (spent - run.get("setup_seconds", 0.0)) / run["epochs"]
            more = int((seconds - spent) // per_epoch)
            if more < 1:
                return spent
            epochs = run["epochs"] + more
        sized = {} if SIZE == emoji.DEFAULT_SIZE else {"image_size": SIZE}
        runs.train(model, out, epochs=epochs, seed=seed, data=DATA, verbose=0, **sized,
                   **options)


def score(images: np.ndarray, labels: np.ndarray | None) -> dict:
    return metrics.evaluate(for_scoring(images), for_scoring(TEST.images), labels,
                            space=SPACE, training=for_scoring(TRAIN.images),
                            floors=True)


def run_row(out: Path, seconds: float, seed: int) -> dict:
    """Scores of a finished run, its cost and its sampling time."""
    images, labels = runs.sample_with_labels(out, len(TEST.images), seed, labels=TEST.labels)
    row = {**score(images, labels), "seconds": seconds,
           "epochs": runs.read_run(out)["epochs"]}
    start = time.perf_counter()  # what `sample --num 1000` costs, less the process start
    saved, run = runs.load_run_model(out)
    module = runs.family(run["model"]).load()
    noise = tf.random.stateless_normal((1000, *module.noise_shape(saved)), seed=[seed + 1, 0])
    labels = np.resize(TEST.labels, 1000)
    module.generate(saved, noise, labels)  # loading, tracing the sampler and a first draw
    first = time.perf_counter() - start
    start = time.perf_counter()  # the loaded model drawing again, as in a notebook
    module.generate(saved, noise, labels)
    return {**row, "sample_s": time.perf_counter() - start, "first_s": first}


def fit_anchor(model: keras.Model, batch_size: int, seconds: float, seed: int
               ) -> tuple[float, int]:
    """Train an anchor on the training glyphs (pixels in [0, 1]) for ``seconds``: (seconds,
    epochs)."""
    budget = training.TimeBudget(seconds)
    start = time.perf_counter()
    model.fit(data.as_dataset(TRAIN.images, batch_size, seed=seed, scale="unit", repeat=True),
              epochs=100_000, steps_per_epoch=-(-len(TRAIN.images) // batch_size), verbose=0,
              callbacks=[budget], shuffle=False)  # tf.data shuffles
    return time.perf_counter() - start, budget.epochs


def anchor_row(draw, noise_shape: tuple[int, ...], seconds: float, epochs: int, seed: int
               ) -> dict:
    """Scores of an unconditional anchor's ``draw(noise)`` (pixels in [0, 1]), its cost and its
    sampling time."""
    images = draw(tf.random.stateless_normal((len(TEST.images), *noise_shape), seed=[seed, 9]))
    noise = tf.random.stateless_normal((1000, *noise_shape), seed=[seed + 1, 9])
    start = time.perf_counter()
    draw(noise)
    return {**metrics.evaluate(images, TEST.images, space=SPACE,
                               training=TRAIN.images, floors=True, value_range=(0, 1)),
            "seconds": seconds, "epochs": epochs, "sample_s": time.perf_counter() - start}


def dcgan_row(seconds: float, seed: int) -> dict:
    keras.utils.set_random_seed(seed)
    model = keras_io_dcgan(TRAIN.images.shape[1:], seed)
    spent, epochs = fit_anchor(model, 32, seconds, seed)

    def draw(codes: tf.Tensor) -> np.ndarray:
        return np.asarray(model.generator.predict(codes, batch_size=500, verbose=0))

    return anchor_row(draw, (model.latent_dim,), spent, epochs, seed)


def ddim_row(seconds: float, seed: int) -> dict:
    keras.utils.set_random_seed(seed)
    model = DDIM(seed, TRAIN.images.shape[1:])
    model.normalizer.adapt(TRAIN.images.astype(np.float32) / 255.0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4))
    spent, epochs = fit_anchor(model, 64, seconds, seed)
    return anchor_row(model.generate, TRAIN.images.shape[1:], spent, epochs, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds per generator, set-up included (default 600)")
    parser.add_argument("--vae-share", type=float, default=0.4,
                        help="share of the latent flow's budget for its autoencoder")
    parser.add_argument("--only", nargs="*", choices=ARMS,
                        default=[a for a in ARMS if a != "latent8"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, choices=(32, 64), default=32)
    parser.add_argument("--data", default="emoji",
                        help="emoji (default) or a folder of colour pictures")
    args = parser.parse_args()

    if args.image_size != emoji.DEFAULT_SIZE and {"dcgan", "ddim"} & set(args.only):
        parser.error("the keras-io anchors run at 32 px only: pass --only gan pixel latent "
                     "latent8 with --image-size 64")
    try:
        use(args.data, args.image_size)
    except runfolder.RunError as error:  # a bad --data: one line, exit 2
        parser.error(str(error))
    print(f"seed {args.seed}")
    print_table(args.budget, measure(args.only, args.budget, args.seed, args.vae_share))


def measure(arms: list[str], budget: float, seed: int, vae_share: float = 0.4) -> dict:
    """Train (or resume) each of ``arms`` for ``budget`` seconds on the data :func:`use`
    chose and score it: ``{row name: scores}``, the floor first."""
    out = OUT
    if rundata.source_name(DATA) != "emoji":
        out = out / Path(DATA).name
    if SIZE != emoji.DEFAULT_SIZE:
        out = out / f"{SIZE}px"
    out = out / f"{budget:.0f}s" / f"seed{seed}"
    order = np.random.default_rng(seed).permutation(len(TRAIN.images))
    rows = {"training images (floor)": {**score(TRAIN.images[order], None), "seconds": 0.0,
                                        "epochs": ""}}
    if "gan" in arms:
        rows["GAN"] = run_row(out / "gan", budget_run("gan", out / "gan", budget, seed), seed)
    if "pixel" in arms:
        rows["flow, pixels"] = run_row(out / "pixel", budget_run("diffusion", out / "pixel",
                                                                 budget, seed), seed)
    for arm, f in (("latent", 4), ("latent8", 8)):
        if arm in arms:
            name = "" if f == 4 else "8"
            rows[f"flow, latents f = {f} (VAE counted)"] = latent_row(
                out / f"vae{name}", out / f"latent{name}", budget, vae_share, seed,
                downsample=None if f == 4 else f)
    if "dcgan" in arms:
        rows["keras-io DCGAN"] = dcgan_row(budget, seed)
    if "ddim" in arms:
        rows["keras-io DDIM"] = ddim_row(budget, seed)
    return rows


def real_share() -> float:
    """The share of real test images the feature space's classifier reads as their class."""
    return metrics.label_accuracy(for_scoring(TEST.images), TEST.labels, space=SPACE)


def latent_row(vae_dir: Path, flow_dir: Path, budget: float, vae_share: float, seed: int,
               downsample: int | None) -> dict:
    """The latent flow's row: its VAE gets ``vae_share`` of the budget, the flow the rest."""
    if (flow_dir / "run.json").is_file():  # the flow learnt this VAE's codes: leave it be
        vae_seconds = runs.train_seconds(vae_dir)
    else:
        vae_seconds = budget_run("vae", vae_dir, vae_share * budget, seed,
                                 downsample=downsample)
    flow_seconds = budget_run("diffusion", flow_dir, budget - vae_seconds, seed,
                              latent=str(vae_dir))
    return {**run_row(flow_dir, flow_seconds, seed), "seconds": vae_seconds + flow_seconds}


def print_table(budget: float, rows: dict) -> None:
    share = real_share()
    floor = rows["training images (floor)"]
    side = SPACE.image_shape[0]
    scored = "" if SIZE == side else f", scored at {side} px"
    print(f"{Path(DATA).name} {SIZE} px{scored}, budget {budget:.0f} s per generator, "
          f"N = {floor['n']} against the test split; real test images read right: {share:.1%}")
    header = ["", "seconds", "epochs", "FD", "FD/floor", "SWD", "SWD/floor", "recall",
              "copies", "class", "1k draw s", "first s"]
    print(f"{header[0]:30}" + "".join(f"{h:>11}" for h in header[1:]))
    fd_floor = floor["fd_floor"] or float("nan")  # 0 when the space tells no image apart
    for name, r in rows.items():
        group = (f"{r['label_accuracy'] / share:11.0%}" if "label_accuracy" in r
                 else f"{'':>11}")
        sample = f"{r['sample_s']:11.1f}" if "sample_s" in r else ""
        sample += f"{r['first_s']:11.1f}" if "first_s" in r else ""
        print(f"{name:30}{r['seconds']:11.0f}{r['epochs']!s:>11}{r['fd']:11.2f}"
              f"{r['fd'] / fd_floor:11.1f}{r['swd']:11.1f}"
              f"{r['swd'] / floor['swd_floor']:11.1f}{r['recall']:11.2f}{r['copies']:11.2f}"
              f"{group}{sample}")
    print(f"floors at N = {floor['n']}: FD {floor['fd_floor']:.2f}, SWD {floor['swd_floor']:.1f}"
          f"; copy distance {floor['copy_distance']:.4f} RMS")


if __name__ == "__main__":
    main()
