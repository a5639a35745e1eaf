"""Speed of ``tfimagegen.noise.add_gaussian`` against NumPy and scikit-image.

Run: ``.venv/bin/python benchmarks/noise.py`` (or ``make bench``).

All three add N(0, 0.1²) noise to the same 64×256×256×3 float32 batch in [0, 1]
and clip to [0, 1]; each is timed ``--repeats`` times after one warm-up call and
the median is reported, as million pixel values per second and as ratios against
the NumPy reference measured in the same run. Machines are noisy: compare the
ratios, not the absolute figures, between runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from skimage.util import random_noise  # noqa: E402

from tfimagegen import noise  # noqa: E402

STDDEV = 0.1


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: graph tracing, thread pools, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--shape", type=int, nargs=4, default=(64, 256, 256, 3))
    args = parser.parse_args()

    batch = np.random.default_rng(0).random(args.shape, dtype=np.float32)
    rng = np.random.default_rng(1)

    def numpy_reference():
        return np.clip(batch + STDDEV * rng.standard_normal(batch.shape, dtype=np.float32), 0, 1)

    candidates = {
        "numpy (reference)": numpy_reference,
        "skimage.util.random_noise": lambda: random_noise(batch, var=STDDEV**2, rng=2),
        "tfimagegen add_gaussian": lambda: noise.add_gaussian(batch, stddev=STDDEV),
    }
    seconds = {name: median_seconds(fn, args.repeats) for name, fn in candidates.items()}
    reference = seconds["numpy (reference)"]
    skimage = seconds["skimage.util.random_noise"]
    print(f"add N(0, {STDDEV}²) noise + clip to {tuple(args.shape)} float32, "
          f"median of {args.repeats}")
    print(f"{'':28} {'M values/s':>11} {'vs numpy':>9} {'vs skimage':>11}")
    for name, s in seconds.items():
        print(f"{name:28} {batch.size / s / 1e6:11.1f} {reference / s:8.2f}x {skimage / s:10.2f}x")


if __name__ == "__main__":
    main()
