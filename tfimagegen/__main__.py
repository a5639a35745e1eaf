"""Command-line interface: ``python -m tfimagegen COMMAND ...``.

Commands (each documented in the README):

* ``noise INPUT OUTPUT --kind K --amount X --seed N``: add noise to an image file.
* ``demo --out DIR``: the main job of ``make demo``: noise images and a gallery.
* ``evaluate SAMPLES.npz [--data SOURCE] [--image-size N] [--reference REAL.npz]
  [--training TRAIN.npz]``: quality scores, with SWD and the real-vs-real floors, as one
  JSON line naming its feature space.
* ``train-classifier [--data SOURCE] [--image-size N] [--out PATH]``: train a feature
  space's classifier (default: rebuild the digit one).
* ``train {gan,vae,diffusion,clip} --out DIR [--data D] [--image-size N] [--fit F]
  [--channels C] [--latent-dim D] [--downsample F] [--latent-channels C]
  [--latent VAE_RUN [--text CLIP_RUN]] [--epochs N] [--seed S] [--quick]
  [--unconditional]``: train or resume, on any data source (the models take its shape
  and classes; clip and --text take its captions).
* ``sample DIR --num N --seed S [--label K | --class NAME | --labels-from FILE.npz |
  --prompt TEXT] [--steps S] [--guidance W] --out FILE.npz [--grid]``: images from a
  trained run (``--grid`` also writes FILE.png).
* ``elbo DIR [--data PATH.npz] [--k K]``: a VAE's ELBO (and IWAE bound) in nats and bits
  per dimension as one JSON line; default data: the test split of the run's source.
* ``synthetic-accuracy DIR [--per-class N] [--seed S] [--steps K]``: test accuracy of a
  fresh classifier trained on real, generated, and real + generated images of the run's
  data, tested on its test split, as one JSON line.
* ``export-data SOURCE --split SPLIT [--image-size N] [--fit F] [--channels C] --out
  FILE.npz``: one split of a data source or a folder of images (``images``, ``labels``,
  ``class_names``, ``captions``) as a file.

Bad arguments exit with status 2 and one line on stderr, no traceback, and
leave no output file. Arguments are checked before TensorFlow is imported, so
such errors are quick and free of TensorFlow's start-up messages. Whatever
fails, the last line on stderr starts with ``tfimagegen: error:``: a file that
cannot be read or written names the file (status 2); anything unexpected is
one line too (status 1; ``TFIMAGEGEN_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NOISE_KINDS = ("gaussian", "uniform", "salt-and-pepper", "poisson")
FLOAT32_MAX = 3.4028234663852886e38  # the noise is computed in float32
MAX_STUDENT_STEPS = 100_000  # synthetic-accuracy --steps
MIN_SCORED = 100  # evaluate: images on each side, at least
POISSON_MIN_AMOUNT = 1e-4  # peak = 1 / amount**2 must stay <= noise.MAX_PEAK (1e8)


class UsageError(Exception):
    """A user mistake: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        raise UsageError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= FLOAT32_MAX:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0 (at most "
                                         f"{FLOAT32_MAX:.3g}), got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    from tfimagegen import runs  # light: no TensorFlow

    if not 0 <= value < runs.MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text!r}")
    return value


def _cmd_noise(args: argparse.Namespace) -> None:
    from tfimagegen import images

    out = Path(args.output)
    if args.kind == "salt-and-pepper" and args.amount > 1:
        raise UsageError(f"--amount for salt-and-pepper is a fraction in [0, 1], got {args.amount}")
    if args.kind == "poisson" and args.amount < POISSON_MIN_AMOUNT:
        raise UsageError(f"--amount for poisson must be >= {POISSON_MIN_AMOUNT:g} (it is the "
                         f"noise std at white; peak = 1/amount^2), got {args.amount:g}")
    if out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}:
        raise UsageError(f"OUTPUT must end in an image suffix such as .png, got {out}")
    try:
        image = images.load_image(args.input)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None

    from tfimagegen import noise

    if args.kind == "gaussian":
        noisy = noise.add_gaussian(image, stddev=args.amount, seed=args.seed)
    elif args.kind == "uniform":
        noisy = noise.add_uniform(image, amount=args.amount, seed=args.seed)
    elif args.kind == "salt-and-pepper":
        noisy = noise.salt_and_pepper(image, amount=args.amount, seed=args.seed)
    else:  # poisson: amount is the noise std of a white pixel, sqrt(1 / peak)
        noisy = noise.poisson(image, peak=1.0 / args.amount**2, seed=args.seed)
    images.save_image(out, noisy)
    print(f"wrote {out}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from tfimagegen import demo

    for path in demo.run(Path(args.out), seed=args.seed, quick=args.quick):
        print(f"wrote {path}")


def _read_images_npz(path: str, what: str) -> tuple:
    """Images (key ``images``, or ``x``), optional labels (``labels``, or ``y``) and
    ``class_names`` from an npz file, so files written by ``sample``, ``export-data`` and
    ``np.savez(x=, y=)`` all read."""
    from tfimagegen import data

    if not Path(path).is_file():
        raise UsageError(f"{what} file not found: {path}")
    try:
        with data.open_npz(path) as archive:
            key = next((k for k in ("images", "x") if k in archive.files), None)
            if key is None:
                raise UsageError(f"{path} has no 'images' array; it has {sorted(archive.files)}")
            label_key = next((k for k in ("labels", "y") if k in archive.files), None)
            labels = None if label_key is None else archive[label_key]
            names = archive["class_names"].tolist() if "class_names" in archive.files else None
            return archive[key], labels, names
    except ValueError as err:
        raise UsageError(str(err)) from None


def _scoring_data(args: argparse.Namespace, shape: tuple[int, ...]) -> tuple:
    """``evaluate``: the feature space, reference and training images for ``--data``
    (its test and training splits), or for digits without it; ``--reference`` and
    ``--training`` override the splits."""
    from tfimagegen import features, rundata, runs

    sized = {"image_size": args.image_size, "fit": args.fit, "channels": args.channels}
    reference = _read_images_npz(args.reference, "reference")[0] if args.reference else None
    training = _read_images_npz(args.training, "training")[0] if args.training else None
    if args.data is None:
        given = [f"--{k.replace('_', '-')}" for k, v in sized.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} needs --data (how its images are drawn)")
        try:
            space = features.for_images(shape)
        except ValueError as err:
            raise UsageError(str(err)) from None
        from tfimagegen import data

        if reference is None:
            reference = data.load_mnist("test")[0]
        return space, reference, training
    if rundata.is_npz(args.data):
        raise UsageError(f"--data {args.data}: an .npz file has no test split to score "
                         "against; name its source, or pass --reference and --training")
    try:
        if reference is None:
            reference = rundata.load(args.data, "test", **sized).images
        train = rundata.load(args.data, "train", **sized)  # read once: scorer and copies
        training = train.images if training is None else training
        with contextlib.redirect_stdout(sys.stderr):  # stdout keeps one JSON line
            space = features.for_source(args.data, **sized, verbose=1, train=train,
                                        announce=lambda line: print(f"tfimagegen: {line}"))
    except runs.RunError as err:
        raise UsageError(str(err)) from None
    return space, reference, training


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from tfimagegen import metrics  # light: TensorFlow loads only when a model is built

    if args.num_samples is not None and args.num_samples < MIN_SCORED:
        raise UsageError(f"--num-samples must be >= {MIN_SCORED}, got {args.num_samples}")
    if args.copy_distance is not None and not 0 <= args.copy_distance <= 1:
        raise UsageError(f"--copy-distance must be in [0, 1] (RMS pixel difference on the "
                         f"[0, 1] scale), got {args.copy_distance:g}")
    images, labels, names = _read_images_npz(args.samples, "samples")
    shape = images.shape[1:] + (1,) * (images.ndim == 3)
    space, reference, training = _scoring_data(args, shape)
    if labels is not None and names is not None and space.labelled \
            and [str(n) for n in names] != list(space.class_names):
        raise UsageError(f"{args.samples}: its class_names ({', '.join(map(str, names[:3]))}"
                         f"...) are not those of the data ({', '.join(space.class_names[:3])}"
                         "...); class scores would compare other classes")
    n = args.num_samples or min(len(images), len(reference))
    if n < MIN_SCORED:
        raise UsageError(f"scores need at least {MIN_SCORED} images on each side (FD depends "
                         f"on the count), got {len(images)} samples and {len(reference)} "
                         "reference images")
    try:
        scores = metrics.evaluate(images, reference, labels, num_samples=n, training=training,
                                  copy_distance=args.copy_distance, space=space, floors=True)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    print(json.dumps({**{k: round(v, 6) if isinstance(v, float) else v
                         for k, v in scores.items()}, "feature_space": space.name}))


def _cmd_train_classifier(args: argparse.Namespace) -> None:
    from tfimagegen import features, files, rundata, runs

    if args.out is not None and not args.out.endswith(".weights.h5"):
        raise UsageError(f"--out must end in .weights.h5, got {args.out}")
    for flag, value in (("--epochs", args.epochs), ("--steps", args.steps)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be >= 1, got {value}")
    sized = {"image_size": args.image_size, "fit": args.fit, "channels": args.channels}
    if args.data == "mnist":
        if args.steps is not None or any(v is not None for v in sized.values()):
            raise UsageError("--steps, --image-size, --fit and --channels apply to sources other "
                             "than mnist (the digit classifier trains for --epochs)")
        from tfimagegen import metrics

        out = Path(args.out or files.cache_folder() / "feature_spaces" / "digits.weights.h5")
        model, accuracy = metrics.train_classifier(
            seed=args.seed, epochs=args.epochs or metrics.CLASSIFIER_EPOCHS, verbose=2)
        what = "the embedded test split"
    else:
        if args.epochs is not None:
            raise UsageError(f"--epochs applies to mnist; {args.data} trains for --steps")
        if rundata.is_npz(args.data):
            raise UsageError(f"--data {args.data}: an .npz file has no test split; the "
                             "classifier needs one")
        try:
            train = rundata.load(args.data, "train", **sized)
            test = rundata.load(args.data, "test", **sized)
        except runs.RunError as err:
            raise UsageError(str(err)) from None
        initializer = features.initializer_for(args.data, args.image_size)
        model, accuracy, names = features.train_space(
            train, test, seed=args.seed, steps=args.steps or features.STEPS,
            initializer=initializer, verbose=2)
        what = f"{args.data}'s test split"
        if args.out is None:  # the cache evaluate reads; the shipped weights stay as they are
            space = features.space_of(train, names, initializer)
            features.save_space(model, space, accuracy, train.record["source"])
            print(f"test accuracy {accuracy:.4f} on {what}; wrote {space.weights}")
            return
        out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_path(out) as partial:
        model.save_weights(partial)
    print(f"test accuracy {accuracy:.4f} on {what}; wrote {out}")


def _cmd_train(args: argparse.Namespace) -> None:
    from tfimagegen import runs

    out = Path(args.out)
    try:  # everything a user can get wrong is checked before TensorFlow loads
        planned = runs.plan(args.model, out, epochs=args.epochs, seed=args.seed, data=args.data,
                            quick=args.quick, latent_dim=args.latent_dim,
                            unconditional=args.unconditional, latent=args.latent,
                            downsample=args.downsample, latent_channels=args.latent_channels,
                            image_size=args.image_size, fit=args.fit, channels=args.channels,
                            text=args.text)
        runs.check_unlocked(out)
    except runs.RunError as err:
        raise UsageError(str(err)) from None

    from tfimagegen import training

    try:
        path = runs.execute(planned)
    except runs.RunError as err:
        raise UsageError(str(err)) from None
    except training.NaNLossError as err:
        print(f"tfimagegen: error: training stopped: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"wrote {path}")


def _cmd_sample(args: argparse.Namespace) -> None:
    from tfimagegen import runs

    if not args.out.endswith(".npz"):
        raise UsageError(f"--out must end in .npz, got {args.out}")
    if sum(x is not None for x in (args.label, args.class_name, args.labels_from)) > 1:
        raise UsageError("give one of --label, --class and --labels-from")
    if args.prompt is not None and any(x is not None for x in (args.label, args.class_name,
                                                               args.labels_from)):
        raise UsageError("--prompt says what to draw; give it without --label, --class or "
                         "--labels-from")
    run_dir = Path(args.run_dir)
    label, labels, names = args.label, None, None
    try:
        if args.class_name is not None:
            run = runs.read_run(run_dir)
            if run is None:
                raise runs.RunError(f"{run_dir} is not a tfimagegen run folder (no run.json)")
            label = runs.class_index(run, args.class_name)
        if args.labels_from is not None:
            labels, names = _read_labels(args.labels_from)
        images, labels = runs.sample_with_labels(run_dir, args.num, args.seed, label, labels,
                                                 names, prompt=args.prompt, steps=args.steps,
                                                 guidance=args.guidance)
    except runs.RunError as err:
        raise UsageError(str(err)) from None
    arrays = {"images": images}
    if labels is not None:
        arrays.update(labels=labels, class_names=np.array(runs.class_names(run_dir)))
    if args.prompt is not None:
        arrays["captions"] = np.array([args.prompt] * len(images))
    _save(Path(args.out), arrays)
    if args.grid:
        from tfimagegen import images as pictures

        grid = Path(args.out).with_suffix(".png")
        pictures.save_image(grid, pictures.tile(images, ncols=min(8, len(images))))
        print(f"wrote {grid}")


def _save(out: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to the npz file ``out`` (atomically) and say what it holds."""
    from tfimagegen.files import save_npz

    save_npz(out, **arrays)
    print(f"wrote {out}: " + ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items()))


def _read_labels(path: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """``sample --labels-from``: the labels of an npz file and its ``class_names``, if any."""
    from tfimagegen import data

    if not Path(path).is_file():
        raise UsageError(f"--labels-from file not found: {path}")
    try:
        return data.read_npz_labels(path)
    except (ValueError, TypeError) as err:
        raise UsageError(f"--labels-from: {err}") from None


def _cmd_elbo(args: argparse.Namespace) -> None:
    from tfimagegen import runs, vaeruns

    if args.k < 1:
        raise UsageError(f"--k must be >= 1, got {args.k}")
    try:
        result = vaeruns.likelihood(Path(args.run_dir), args.data, k=args.k, seed=args.seed)
    except runs.RunError as err:
        raise UsageError(str(err)) from None
    print(json.dumps({key: round(v, 4) if isinstance(v, float) else v
                      for key, v in result.items()}))


def _cmd_synthetic_accuracy(args: argparse.Namespace) -> None:
    from tfimagegen import runs

    if args.per_class is not None and args.per_class < 1:
        raise UsageError(f"--per-class must be >= 1, got {args.per_class}")
    if not 1 <= args.steps <= MAX_STUDENT_STEPS:
        raise UsageError(f"--steps must be in [1, {MAX_STUDENT_STEPS:,}], got {args.steps:,}")
    try:
        runs.check_conditional_run(Path(args.run_dir))
    except runs.RunError as err:
        raise UsageError(str(err)) from None

    from tfimagegen import apply

    try:
        result = apply.synthetic_accuracy(Path(args.run_dir), per_class=args.per_class,
                                          seed=args.seed, steps=args.steps)
    except (runs.RunError, ValueError) as err:
        raise UsageError(str(err)) from None
    print(json.dumps({key: round(v, 2) if isinstance(v, float) else v
                      for key, v in result.items()}))


def _cmd_export_data(args: argparse.Namespace) -> None:
    from tfimagegen import data  # light: TensorFlow loads only for the Keras sources

    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out must end in .npz, got {out}")
    try:  # load_source checks the source and settings first, before anything loads
        split = data.load_source(args.source, args.split, args.image_size, args.fit,
                                 args.channels)
    except (ValueError, RuntimeError) as err:
        raise UsageError(str(err)) from None
    arrays = {"images": split.images}
    if split.labels is not None:
        arrays.update(labels=split.labels.astype(np.int32), class_names=np.array(split.class_names))
    if split.captions is not None:
        arrays["captions"] = np.array(split.captions)
    _save(out, arrays)


def _add_size_arguments(p: argparse.ArgumentParser) -> None:
    """--image-size, --fit and --channels: how emoji and folders are drawn."""
    p.add_argument("--image-size", type=int, default=None,
                   help="emoji and folders: pixels per side (default 32)")
    p.add_argument("--fit", choices=("crop", "pad"), default=None,
                   help="folders: centre-crop (default) or pad non-square images with white")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="folders: default 1 when every image is grey, else 3")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tfimagegen`` argument parser."""
    parser = _Parser(prog="python -m tfimagegen", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("noise", help="add noise to an image file")
    p.add_argument("input", help="image to read (PNG, JPEG, ...)")
    p.add_argument("output", help="image to write; the suffix picks the format")
    p.add_argument("--kind", choices=NOISE_KINDS, default="gaussian")
    p.add_argument("--amount", type=_positive_float, default=0.1,
                   help="gaussian: std; uniform: half-width; salt-and-pepper: fraction of "
                        "pixels; poisson: noise std at white (peak = 1/amount^2). Default 0.1")
    p.add_argument("--seed", type=_seed, default=None, help="int seed for repeatable noise")
    p.set_defaults(func=_cmd_noise)

    p = sub.add_parser("demo", help="write the demo gallery (make demo)")
    p.add_argument("--out", default="outputs/demo", help="folder to write into")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--quick", action="store_true", help="a smoke-test GAN instead of a short one")
    p.set_defaults(func=_cmd_demo)

    from tfimagegen import features, metrics  # light: TensorFlow loads only for a model
    from tfimagegen.data import DATA_SOURCES

    p = sub.add_parser("evaluate", help="score generated images (FD, KID, SWD, class score, "
                                         "...) as one JSON line")
    p.add_argument("samples", help=".npz with 'images' (or 'x'), optional 'labels' (or 'y') "
                                   "and 'class_names'")
    p.add_argument("--data", default=None,
                   help=f"the source the samples imitate: {', '.join(DATA_SOURCES)} or a folder; "
                        "its test split is the reference, its training split the training "
                        "images, and its feature space scores them (default: digits)")
    _add_size_arguments(p)
    p.add_argument("--reference", help=".npz of real images; default: the test split")
    p.add_argument("--num-samples", type=int, default=None,
                   help=f"images used from each side (default: the smaller set; at least "
                        f"{MIN_SCORED})")
    p.add_argument("--training", help=".npz of the images the generator learnt from, for "
                                      "'copies' and the floors; default: the training split")
    p.add_argument("--copy-distance", type=_positive_float, default=None,
                   help="RMS pixel difference (0-1 scale) below which a sample counts as a "
                        f"copy of a training image (default: {metrics.COPY_DISTANCE} for digits, "
                        "calibrated on the data otherwise)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("train-classifier",
                       help="train a feature space's classifier (default: the digit one)")
    p.add_argument("--data", default="mnist",
                   help=f"{', '.join(DATA_SOURCES)} or a folder (default mnist)")
    _add_size_arguments(p)
    p.add_argument("--out", default=None,
                   help="weights file to write (default: the cache evaluate reads; the shipped "
                        "weights change only when --out names them)")
    p.add_argument("--seed", type=_seed, default=metrics.CLASSIFIER_SEED)
    p.add_argument("--epochs", type=int, default=None,
                   help=f"mnist: passes over the digits (default {metrics.CLASSIFIER_EPOCHS})")
    p.add_argument("--steps", type=int, default=None,
                   help=f"other sources: optimiser steps (default {features.STEPS})")
    p.set_defaults(func=_cmd_train_classifier)

    from tfimagegen.families import FAMILIES  # light: no TensorFlow

    p = sub.add_parser("train", help="train a generative model (resumes an unfinished run)")
    p.add_argument("model", choices=list(FAMILIES))
    p.add_argument("--out", required=True, help="run folder; rerun to resume")
    p.add_argument("--latent-dim", type=int, default=None,
                   help="size of the latent space (default: the recipe's, 64 gan / 16 vae)")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: the notebook's full-mode recipe (resuming: the run's)")
    p.add_argument("--seed", type=_seed, default=None, help="default 0 (resuming: the run's)")
    p.add_argument("--data", default=None,
                   help="mnist (default), fashion_mnist, emoji, cifar10, a folder of images "
                        "(class subfolders give labels) or PATH.npz (images under x or images, "
                        "labels under y or labels); resuming: the run's")
    _add_size_arguments(p)
    p.add_argument("--downsample", type=int, default=None,
                   help="vae: a spatial code this many times smaller than the image, 4 or 8 "
                        "(default 4 for all but the digit sources, which get a flat code)")
    p.add_argument("--latent-channels", type=int, default=None,
                   help="vae: channels of a spatial code (default 4)")
    p.add_argument("--quick", action="store_true", default=None,
                   help="a few epochs on a few images (resuming: as the run was made)")
    p.add_argument("--unconditional", action="store_true",
                   help="gan, diffusion: not told which digit to draw (needs no labels)")
    p.add_argument("--latent", default=None, metavar="VAE_RUN",
                   help="diffusion: learn the latent codes of this finished vae run folder "
                        "(default: pixels)")
    p.add_argument("--text", default=None, metavar="CLIP_RUN",
                   help="diffusion with --latent: draw what each image's caption says, read by "
                        "the text encoder of this finished clip run folder")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sample", help="generate images from a trained run")
    p.add_argument("run_dir", help="a run folder written by 'train'")
    p.add_argument("--num", type=int, default=64)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--label", type=int, default=None,
                   help="conditional runs: draw only this class index (default: all in turn)")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME",
                   help="conditional runs: draw only the class of this name")
    p.add_argument("--labels-from", default=None, metavar="FILE.npz",
                   help="conditional runs: the class of each image, the first --num labels "
                        "of this file (e.g. export-data --split test)")
    p.add_argument("--steps", type=int, default=None,
                   help="diffusion runs: sampler steps (default: the run's recipe)")
    p.add_argument("--guidance", type=_positive_float, default=None,
                   help="diffusion runs: classifier-free guidance weight w; 0 ignores the "
                        "label, 1 is plain conditional (default: the run's recipe)")
    p.add_argument("--prompt", default=None, metavar="TEXT",
                   help="text runs (train diffusion --text): the caption to draw, in words of "
                        "its training captions")
    p.add_argument("--grid", action="store_true",
                   help="also write the images as one picture, FILE.png beside FILE.npz")
    p.add_argument("--out", required=True,
                   help=".npz file; images under the key 'images' (and 'labels', the class "
                        "each was drawn as, for a conditional run)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("elbo", help="a VAE run's log-likelihood bounds, in nats and bits per "
                                    "dimension")
    p.add_argument("run_dir", help="a finished 'train vae' run folder")
    p.add_argument("--data", default=None,
                   help=".npz with uint8 images of the run's shape under the key x (default: "
                        "the test split of the run's source)")
    p.add_argument("--k", type=int, default=1,
                   help="importance samples: 1 prints the ELBO; k > 1 adds the IWAE bound")
    p.add_argument("--seed", type=_seed, default=0)
    p.set_defaults(func=_cmd_elbo)

    p = sub.add_parser("synthetic-accuracy",
                       help="train a classifier on a conditional run's images; test it on real "
                            "ones (one JSON line, percent)")
    p.add_argument("run_dir", help="a finished conditional 'train gan' or 'train diffusion' run")
    p.add_argument("--per-class", type=int, default=None,
                   help="real images per class for 'real' and 'real_plus_synthetic' "
                        "(default: all); 'synthetic' always has the training split's size")
    p.add_argument("--seed", type=_seed, default=0)
    from tfimagegen.recipes import StudentRecipe  # light: no TensorFlow

    p.add_argument("--steps", type=int, default=StudentRecipe.steps,
                   help=f"optimiser steps of {StudentRecipe.batch_size} images per classifier "
                        f"(default {StudentRecipe.steps})")
    p.set_defaults(func=_cmd_synthetic_accuracy)


    p = sub.add_parser("export-data", help="write one split of a data source as an .npz file")
    p.add_argument("source", help=f"{', '.join(DATA_SOURCES)}, or a folder of images (class "
                                  "subfolders give labels)")
    p.add_argument("--split", required=True,
                   choices=("train", "validation", "test", "compositions", "all"),
                   help="all: every image the source holds, before splitting; compositions: "
                        "emoji only")
    _add_size_arguments(p)
    p.add_argument("--out", required=True,
                   help=".npz file: images (uint8 NHWC), labels (int32), class_names and, "
                        "where the source has them, captions")
    p.set_defaults(func=_cmd_export_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except UsageError as err:
        return _fail(str(err), 2)
    except OSError as err:  # a directory, a read-only place, a full disk: name the file
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}", 2)
    except Exception as err:
        if os.environ.get("TFIMAGEGEN_DEBUG") == "1":
            raise
        from tfimagegen.data import first_line

        return _fail(f"{first_line(err)} (set TFIMAGEGEN_DEBUG=1 for the traceback)", 1)
    return 0


def _fail(message: str, status: int) -> int:
    print(f"tfimagegen: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
