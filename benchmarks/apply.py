"""Generated digits put to work: synthetic training data, scarce data, rebalancing, noise.

Run: ``.venv/bin/python benchmarks/apply.py [--seeds 0 1 2] [--runs DIR] [--steps K]``
(or ``make bench``).

Every row is a fresh ``apply.make_student`` classifier trained for the same
``--steps`` (default ``apply.Recipe.steps``) on the 3,000 embedded training
digits or on generated ones, and tested on real digits. The reference is the
classifier trained on the real digits, in the same run, with the same budget.
Each seed changes the classifiers' weights and data order, the generated
digits' noise, and the subsets drawn; the generators stay the same. Rows give
the mean ± standard deviation over the seeds.

The generators are lesson 02's conditional GAN, lesson 04's pixel-space flow
and latent flow, read from ``--runs`` (default ``notebooks/outputs``, where
the lessons write them). Missing ones are trained first with the lessons'
settings (about 4 minutes for the GAN, 7 for the VAE and pixel flow, 1 for the
latent flow).

The best generator is chosen on the 1,000 validation digits; every row is
then reported on the 1,000 test digits:

* real digits, and each generator's digits alone (as many, same class counts):
  the classification accuracy score (Ravuri & Vinyals 2019);
* 10 real digits per class, alone and with the best generator's digits;
* one class (5) cut to 20 real digits: its recall, then refilled with generated 5s;
* noise augmentation (``apply.NoiseAugment``) against none, on clean test digits
  and on each of ``apply.CORRUPTIONS``: two within the augmentation's range
  (Gaussian σ = 0.3, salt and pepper) and three it never showed (Gaussian
  σ = 0.7, Poisson shot noise, blur).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfimagegen import apply, data, runs  # noqa: E402

TRAIN, TRAIN_LABELS = data.load_mnist("train", source="embedded")
VALIDATION, VALIDATION_LABELS = data.load_mnist("validation", source="embedded")
TEST, TEST_LABELS = data.load_mnist("test", source="embedded")
STARVED_DIGIT, STARVED_KEEP, PER_CLASS = 5, 20, 10
SEEN_NOISE = next(name for name in apply.CORRUPTIONS if name.startswith("Gaussian σ 0.3"))
PIXEL_EPOCHS = 28  # lesson 04's pixel-space flow


def generators(runs_dir: Path) -> dict[str, tuple[Path, dict]]:
    """Lesson runs (trained here if missing) and the sample options to use."""
    gan_run, vae_run = runs_dir / "02_gan", runs_dir / "03_vae"
    flow_run, latent_run = runs_dir / "04_flow", runs_dir / "04_latent_flow"
    if not (gan_run / "generator.keras").is_file():
        runs.train("gan", gan_run, seed=0, verbose=0)
    if not (vae_run / "vae.keras").is_file():
        runs.train("vae", vae_run, seed=0, verbose=0)
    if not (flow_run / "flow.keras").is_file():
        runs.train("diffusion", flow_run, seed=0, epochs=PIXEL_EPOCHS, verbose=0)
    if not (latent_run / "flow.keras").is_file():
        runs.train("diffusion", latent_run, latent=vae_run, seed=0, verbose=0)
    return {"GAN (02)": (gan_run, {}), "flow, pixels (04)": (flow_run, {}),
            "flow, latents (04)": (latent_run, {}),
            "flow, latents, w = 2": (latent_run, {"guidance": 2.0})}


def one_seed(seed: int, gens: dict, steps: int) -> dict[str, float]:
    """Validation (``val:``) and test accuracies of every row, for one seed."""
    out = {}

    def record(name: str, model) -> None:
        out["val:" + name] = apply.accuracy(model, VALIDATION, VALIDATION_LABELS)
        out[name] = apply.accuracy(model, TEST, TEST_LABELS)

    def student(x, y, **kwargs):
        return apply.train_student(x, y, seed=seed, steps=steps, **kwargs)

    real = student(TRAIN, TRAIN_LABELS)
    record("real digits", real)
    fake_labels = np.random.default_rng(seed).permutation(TRAIN_LABELS)
    fakes = {}
    for name, (run_dir, options) in gens.items():
        fakes[name] = apply.generate_for_labels(run_dir, fake_labels, seed=seed, **options)
        record(f"synthetic: {name}", student(fakes[name], fake_labels))
    best = max(gens, key=lambda name: out[f"val:synthetic: {name}"])
    out["best"] = list(gens).index(best)

    few_x, few_y = apply.take_per_class(TRAIN, TRAIN_LABELS, PER_CLASS, seed)
    record("10 real per class", student(few_x, few_y))
    record("10 real per class + synthetic", student(np.concatenate([few_x, fakes[best]]),
                                                    np.concatenate([few_y, fake_labels])))

    cut_x, cut_y = apply.drop_class(TRAIN, TRAIN_LABELS, STARVED_DIGIT, STARVED_KEEP, seed)
    fill_labels = np.full(len(TRAIN) - len(cut_x), STARVED_DIGIT)
    run_dir, options = gens[best]
    fill = apply.generate_for_labels(run_dir, fill_labels, seed=seed + 1000, **options)
    refilled = student(np.concatenate([cut_x, fill]), np.concatenate([cut_y, fill_labels]))
    for name, model in (("balanced", real), ("starved", student(cut_x, cut_y)),
                        ("refilled", refilled)):
        out[f"recall of 5s: {name}"] = apply.class_recall(model, TEST, TEST_LABELS)[STARVED_DIGIT]

    robust = student(TRAIN, TRAIN_LABELS, augment=apply.NoiseAugment(seed=seed))
    for name, model in (("plain", real), ("noise-augmented", robust)):
        for corruption, score in apply.corruption_accuracy(model, TEST, TEST_LABELS,
                                                           seed=seed).items():
            out[f"{name}: {corruption}"] = score
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", default="notebooks/outputs", type=Path,
                        help="folder holding the lessons' run folders (02_gan, 04_flow, ...)")
    parser.add_argument("--steps", type=int, default=apply.Recipe.steps)
    args = parser.parse_args()

    gens = generators(args.runs)
    results = []
    for seed in args.seeds:
        results.append(one_seed(seed, gens, args.steps))
        print(f"seed {seed} done", flush=True)

    def stat(key: str) -> str:
        values = np.array([r[key] for r in results])
        return f"{values.mean():6.1f} ± {values.std():.1f}"

    names = list(gens)
    print(f"\nbest generator on validation, per seed: {[names[r['best']] for r in results]}")
    print(f"{len(args.seeds)} seeds, {args.steps} steps per classifier; test accuracy (%), "
          "validation in brackets where it chose")
    for key in results[0]:
        if key.startswith("val:") or key == "best":
            continue
        val = f"   (validation {stat('val:' + key)})" if "val:" + key in results[0] else ""
        print(f"  {key:36}{stat(key)}{val}")
    real = np.array([r["real digits"] for r in results])
    best_synthetic = np.array([r[f"synthetic: {names[r['best']]}"] for r in results])
    few = np.array([r["10 real per class + synthetic"] - r["10 real per class"] for r in results])
    lost = np.array([r["recall of 5s: balanced"] - r["recall of 5s: starved"] for r in results])
    regained = np.array([r["recall of 5s: refilled"] - r["recall of 5s: starved"]
                         for r in results])
    gain = np.array([r[f"noise-augmented: {SEEN_NOISE}"] - r[f"plain: {SEEN_NOISE}"]
                     for r in results])
    cost = np.array([r["plain: clean"] - r["noise-augmented: clean"] for r in results])
    print("\ntargets (issue #13), mean ± std over seeds:")
    print(f"  best synthetic - real:               {np.mean(best_synthetic - real):+.1f} ± "
          f"{np.std(best_synthetic - real):.1f} points (target >= -1.0)")
    print(f"  10 per class, + synthetic - alone:   {few.mean():+.1f} ± {few.std():.1f} points "
          "(target >= +5)")
    print(f"  rebalancing, share of lost recall regained: {np.mean(regained / lost):.0%} ± "
          f"{np.std(regained / lost):.0%} (target >= 50 %)")
    print(f"  noise augmentation, {SEEN_NOISE}: {gain.mean():+.1f} ± {gain.std():.1f} points "
          "(target >= +10)")
    print(f"  ... on clean digits:                 {-cost.mean():+.1f} ± {cost.std():.1f} points "
          "(target >= -0.3)")
    print("\nnoise augmentation against none, by corruption (issue #22: unseen ones too):")
    for corruption in apply.CORRUPTIONS:
        delta = np.array([r[f"noise-augmented: {corruption}"] - r[f"plain: {corruption}"]
                          for r in results])
        print(f"  {corruption:30}{delta.mean():+6.1f} ± {delta.std():.1f} points")


if __name__ == "__main__":
    main()
