"""Command-line interface: ``python -m tfimagegen COMMAND ...``.

Commands (each documented in the README):

* ``noise INPUT OUTPUT --kind K --amount X --seed N``: add noise to an image file.
* ``demo --out DIR``: the main job of ``make demo``: noise images and a gallery.

Bad arguments exit with status 2 and one line on stderr, no traceback, and
leave no output file. Arguments are checked before TensorFlow is imported, so
such errors are quick and free of TensorFlow's start-up messages.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NOISE_KINDS = ("gaussian", "uniform", "salt-and-pepper", "poisson")


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
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _cmd_noise(args: argparse.Namespace) -> None:
    from tfimagegen import images

    out = Path(args.output)
    if args.kind == "salt-and-pepper" and args.amount > 1:
        raise UsageError(f"--amount for salt-and-pepper is a fraction in [0, 1], got {args.amount}")
    if args.kind == "poisson" and args.amount == 0:
        raise UsageError("--amount for poisson must be > 0 (it is the noise std at white)")
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

    for path in demo.run(Path(args.out), seed=args.seed):
        print(f"wrote {path}")


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
    p.add_argument("--seed", type=int, default=None, help="int seed for repeatable noise")
    p.set_defaults(func=_cmd_noise)

    p = sub.add_parser("demo", help="write the demo gallery (make demo)")
    p.add_argument("--out", default="outputs/demo", help="folder to write into")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except UsageError as err:
        print(f"tfimagegen: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
