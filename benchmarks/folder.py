"""A folder of PNG files trains as well as the built-in source it was written from (issue #19, §5).

Run: ``.venv/bin/python benchmarks/folder.py [--seeds 0 1 2]`` (or ``make bench``).

The training digits of ``--data mnist`` (offline: the 3,000 embedded MNIST
training digits) are written as a folder of PNG files with Pillow, one
subfolder per digit, under ``outputs/bench_folder/digits``. The GAN recipe
(``train gan``, default epochs) then trains on ``--data mnist`` and on
``--data DIR --image-size 28`` for each seed, and every run is scored the same
way: 1,000 samples drawn in the test split's label proportions, by the digit
scorer, against the same 1,000 test digits of ``--data mnist``.

A folder is a source of its own, split three ways by its own seeded,
stratified split, so the folder's GAN learns 70 % of those digits (its
training split); the digits it holds out are never used here. An epoch is a
fixed number of steps, so both arms get the same compute. The folder passes
when its median FD lies within the range of the ``--data mnist`` seeds.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from PIL import Image  # noqa: E402

from tfimagegen import metrics, rundata, runs  # noqa: E402

OUT = Path("outputs/bench_folder")


def write_folder(folder: Path) -> int:
    """The training digits of ``--data mnist`` as ``folder/<digit>/<index>.png``; their count."""
    train = rundata.load("mnist", "train")
    done = folder.with_name(folder.name + ".done")  # beside the folder: not one of its files
    if done.is_file():
        return len(train.images)
    for index, (image, label) in enumerate(zip(train.images, train.labels, strict=True)):
        path = folder / train.record["class_names"][label] / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0], mode="L").save(path)
    done.write_text("")
    return len(train.images)


def score(run_dir: Path, test: rundata.RunData, seed: int) -> dict:
    images, labels = runs.sample_with_labels(run_dir, len(test.images), seed,
                                             labels=test.labels)
    return metrics.evaluate(images, test.images, labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    folder = OUT / "digits"
    count = write_folder(folder)
    test = rundata.load("mnist", "test")
    arms = {"--data mnist": {"data": "mnist"},
            "--data DIR (PNG files)": {"data": str(folder), "image_size": 28}}
    rows = {name: [] for name in arms}
    for seed in args.seeds:
        for name, options in arms.items():
            out = OUT / f"{'mnist' if options['data'] == 'mnist' else 'folder'}_seed{seed}"
            runs.train("gan", out, seed=seed, verbose=0, **options)
            rows[name].append({**score(out, test, seed),
                               "count": runs.read_run(out)["dataset"]["count"]})

    print(f"GAN recipe, seeds {args.seeds}; the folder holds the {count:,} training digits of "
          f"--data mnist; scored against its {len(test.images):,} test digits")
    print(f"{'':26}{'trained on':>11}" + "".join(f"{'FD s' + str(s):>9}" for s in args.seeds)
          + f"{'median':>9}{'label acc':>11}{'recall':>9}")
    for name, scores in rows.items():
        fds = [r["fd"] for r in scores]
        print(f"{name:26}{scores[0]['count']:11,}" + "".join(f"{fd:9.2f}" for fd in fds)
              + f"{statistics.median(fds):9.2f}"
              + f"{statistics.median(r['label_accuracy'] for r in scores):11.3f}"
              + f"{statistics.median(r['recall'] for r in scores):9.2f}")
    mnist = [r["fd"] for r in rows["--data mnist"]]
    folder_median = statistics.median(r["fd"] for r in rows["--data DIR (PNG files)"])
    inside = min(mnist) <= folder_median <= max(mnist)
    print(f"folder median FD {folder_median:.2f} is {'within' if inside else 'outside'} the "
          f"--data mnist seeds' range {min(mnist):.2f} to {max(mnist):.2f}")


if __name__ == "__main__":
    main()
