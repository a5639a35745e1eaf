"""Text to image on emoji names, measured on prompts no model has seen (issue #21).

Run: ``.venv/bin/python benchmarks/text.py [--seeds 0 1 2] [--only clip cross film floor]
[--per-prompt 4]`` (``make bench`` runs the defaults). Offline.

One autoencoder for every seed: ``train vae --data emoji`` for lesson 06's 20 epochs
(seed 0), in ``outputs/bench_text/vae``; the ``compositions`` split is outside its
training data, as it is outside every model's. Then, per seed, in
``outputs/bench_text/seedS/`` (a second call reuses finished runs):

* **clip**: ``train clip --data emoji`` (the recipe's 30 epochs), scored by caption →
  image and image → caption retrieval on the 136 ``compositions`` glyphs and on the
  test glyphs whose caption words are all in its vocabulary;
* **cross**: ``train diffusion --latent VAE --text CLIP`` (the recipe: cross-attention
  from the code to the words);
* **film**: the same, the caption's mean word feature added to the time embedding
  instead (``conditioning="film"``, through ``train(build=...)``);
* **floor**: ``train diffusion --latent VAE``, told the group ("People & Body"),
  not the caption.

Each generator draws ``--per-prompt`` images for each held-out caption (default
guidance and steps), read by :func:`tfimagegen.compositions.measure`: the tone
(model-free reader, single-tone captions), the role (nearest training image of
the prompt's base) and the tone by CLIP. The ceilings are the real glyphs of those
captions and the autoencoder's reconstructions of them. ``seen tone`` reads the tone
the same way on images drawn for as many single-tone *training* captions of the same
bases (seeded): how well the generator draws a tone it was taught, so the gap to
``tone`` is what composing a new pair costs. ``train s`` is what the
run's history says it cost; ``16 imgs s`` the seconds a loaded model takes to draw
16 images for one prompt (median of 5, after a first call).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfimagegen import (  # noqa: E402
    clip,
    compositions,
    diffusion,
    emoji,
    rundata,
    runs,
    skintone,
    text,
)

OUT = Path("outputs/bench_text")
ARMS = ("clip", "cross", "film", "floor")
VAE_EPOCHS = 20  # lesson 06's
TRAIN = rundata.load("emoji", "train")
HELD_OUT = rundata.load("emoji", "compositions")
TEST = rundata.load("emoji", "test")


def seen_prompts() -> list[str]:
    """As many single-tone training captions as there are held-out ones, of the held-out
    bases (seeded): prompts the generators were trained on."""
    bases = {skintone.single_tone(c)[0] for c in HELD_OUT.captions if skintone.single_tone(c)}
    seen = sorted(c for c in TRAIN.captions
                  if skintone.single_tone(c) and skintone.single_tone(c)[0] in bases)
    return list(np.random.default_rng(0).choice(seen, len(HELD_OUT.captions), replace=False))


def film(recipe, seed, **kwargs):
    """``build`` for ``runs.train``: the text flow with FiLM instead of cross-attention."""
    return diffusion.build_flow(dataclasses.replace(recipe, conditioning="film"), seed, **kwargs)


def retrieval_rows(clip_dir: Path) -> dict:
    model, _ = runs.load_run_model(clip_dir)
    known = [i for i, c in enumerate(TEST.captions) if not model.vocabulary.unknown(c)]
    rows = {}
    for name, images, captions in (
            ("compositions", HELD_OUT.images, HELD_OUT.captions),
            ("test, words known", TEST.images[known], [TEST.captions[i] for i in known])):
        scores = clip.retrieval(model.embed_images(images), model.embed_captions(captions))
        rows[name] = {**scores, "n": len(captions)}
    return rows


def draw(run_dir: Path, seed: int, per_prompt: int, *caption_sets: list[str]
         ) -> tuple[list[tuple[np.ndarray, list[str]]], float]:
    """``(images, prompts)`` for each of ``caption_sets``, ``per_prompt`` images per
    caption, from one loaded model; and the seconds 16 images for one prompt take it."""
    import tensorflow as tf

    model, run = runs.load_run_model(run_dir)
    drawn = []
    for captions in caption_sets:
        prompts = [c for c in captions for _ in range(per_prompt)]
        noise = tf.random.stateless_normal((len(prompts), *model.noise_shape), seed=[seed, 7])
        if model.vocabulary is not None:
            condition = model.vocabulary.encode(prompts, strict=False)
        else:  # the floor: told the group of every caption
            condition = np.full(len(prompts), emoji.GROUPS.index("People & Body"), np.int32)
        drawn.append((diffusion.generate(model, noise, condition), prompts))
    one = condition[:16] if model.vocabulary is None else np.repeat(condition[:1], 16, axis=0)
    diffusion.generate(model, noise[:16], one)  # traced already; a first call
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        diffusion.generate(model, noise[:16], one)
        seconds.append(time.perf_counter() - start)
    return drawn, float(np.median(seconds))


def reconstructions(vae_dir: Path) -> np.ndarray:
    """The autoencoder's pixel means at the posterior means of the held-out glyphs."""
    from tfimagegen import vae

    model, _ = runs.load_run_model(vae_dir)
    return vae.generate(model, diffusion.encode_latents(model, HELD_OUT.images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="*", choices=ARMS, default=list(ARMS))
    parser.add_argument("--per-prompt", type=int, default=4)
    args = parser.parse_args()

    reader = skintone.ToneReader.from_glyphs(TRAIN.images, TRAIN.captions)
    vae_dir = OUT / "vae"
    runs.train("vae", vae_dir, data="emoji", epochs=VAE_EPOCHS, seed=0, verbose=0)

    def measure(images, prompts, clip_model=None) -> dict:
        return compositions.measure(images, prompts, reader, TRAIN.images, TRAIN.captions,
                                    clip_model)

    glyphs = measure(HELD_OUT.images, HELD_OUT.captions)
    print(f"held-out compositions: {len(HELD_OUT.captions)} captions, {glyphs['tone_n']} with "
          f"one tone; skin fills read from the training glyphs: "
          + ", ".join("#" + "".join(f"{int(v):02X}" for v in fill) for fill in reader.fills))
    rows = {"real glyphs (ceiling)": {**glyphs, "seconds": 0.0},
            "VAE reconstructions": {**measure(reconstructions(vae_dir), HELD_OUT.captions),
                                    "seconds": runs.train_seconds(vae_dir)}}
    results = {}
    for seed in args.seeds:
        out = OUT / f"seed{seed}"
        clip_dir = out / "clip"
        runs.train("clip", clip_dir, data="emoji", seed=seed, verbose=0)
        clip_model, _ = runs.load_run_model(clip_dir)
        if "clip" in args.only:
            print(f"seed {seed}: CLIP trained in {runs.train_seconds(clip_dir):.0f} s; "
                  f"vocabulary {len(text.Vocabulary.load(clip_dir).words)} words")
            for name, r in retrieval_rows(clip_dir).items():
                print(f"  {name:20} n = {r['n']:4}  caption→image top-1 "
                      f"{r['caption_to_image_top1']:.0%} top-5 {r['caption_to_image_top5']:.0%}"
                      f"  image→caption top-1 {r['image_to_caption_top1']:.0%} top-5 "
                      f"{r['image_to_caption_top5']:.0%}  (chance top-5 {5 / r['n']:.0%})")
        arms = {"cross": ("cross-attention", {"text": str(clip_dir)}),
                "film": ("FiLM (mean word)", {"text": str(clip_dir), "build": film}),
                "floor": ("group-conditional (floor)", {})}
        for arm, (name, options) in arms.items():
            if arm not in args.only:
                continue
            run_dir = out / arm
            runs.train("diffusion", run_dir, data="emoji", latent=str(vae_dir), seed=seed,
                       verbose=0, **options)
            (held_out, seen), draw_s = draw(run_dir, seed, args.per_prompt,
                                            HELD_OUT.captions, seen_prompts())
            spent = runs.train_seconds(run_dir) + runs.train_seconds(clip_dir) * (arm != "floor")
            results.setdefault(name, []).append({**measure(*held_out, clip_model),
                                                 "seen_tone": measure(*seen)["tone"],
                                                 "seconds": spent, "draw_s": draw_s})
        rows["real glyphs (ceiling)"].setdefault("clip_tones", []).append(
            float(compositions.clip_tone_first(clip_model, HELD_OUT.images,
                                               HELD_OUT.captions).mean()))
    rows["real glyphs (ceiling)"]["clip_tone"] = float(np.median(
        rows["real glyphs (ceiling)"].pop("clip_tones", [np.nan])))
    for name, per_seed in results.items():
        rows[name] = {k: float(np.median([r[k] for r in per_seed])) for k in per_seed[0]}
        rows[name]["spread"] = {k: (min(r[k] for r in per_seed), max(r[k] for r in per_seed))
                                for k in ("tone", "role")}
    print_table(rows, args.seeds, args.per_prompt)


def print_table(rows: dict, seeds: list[int], per_prompt: int) -> None:
    ceiling = rows["real glyphs (ceiling)"]["tone"]
    print(f"medians over seeds {seeds}; {per_prompt} images per held-out caption")
    header = ["", "tone", "tone/real", "role", "CLIP tone", "seen tone", "train s",
              "16 imgs s", "tone range", "role range"]
    print(f"{header[0]:28}" + "".join(f"{h:>11}" for h in header[1:]))
    for name, r in rows.items():
        spread = r.get("spread")
        line = (f"{name:28}{r['tone']:11.0%}{r['tone'] / ceiling:11.0%}{r['role']:11.0%}"
                + (f"{r['clip_tone']:11.0%}" if "clip_tone" in r else f"{'':>11}")
                + (f"{r['seen_tone']:11.0%}" if "seen_tone" in r else f"{'':>11}")
                + f"{r['seconds']:11.0f}"
                + (f"{r['draw_s']:11.2f}" if "draw_s" in r else f"{'':>11}"))
        if spread:
            line += "".join(f"{f'{lo:.0%}-{hi:.0%}':>11}" for lo, hi in spread.values())
        print(line)


if __name__ == "__main__":
    main()
