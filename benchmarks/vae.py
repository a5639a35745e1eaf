"""VAE log-likelihood per CPU-minute: the project's recipe against the TF CVAE tutorial's.

Run: ``.venv/bin/python benchmarks/vae.py [--latent-dim 16]`` (or ``make bench``).

The project's recipe (``vae.Recipe``) trains its full-mode epochs, exactly as
the notebook and ``python -m tfimagegen train vae`` do, and its wall-clock time
becomes the budget of the tutorial recipe, which trains on the same digits (the
3,000 embedded MNIST training digits, binarised at 0.5) until that budget is
spent. Both are then scored on the 1,000 validation digits (what recipes are
chosen by) and, once, on the 1,000 test digits (what the README reports): the
ELBO and the IWAE-50 bound in nats per image, and the sample scores of
``tfimagegen.metrics.evaluate`` (pixel means of 1,000 prior samples).

The tutorial recipe (tensorflow.org/tutorials/generative/cvae) is rebuilt here:
encoder Conv 32/64, 3×3, stride 2, no padding → Dense(2·latent); decoder Dense
7·7·32 → ConvT 64/32 stride 2 → ConvT 1, all ReLU; the single-sample Monte
Carlo ELBO (``log p(x|z) + log p(z) - log q(z|x)`` at one ``z``); Adam 1e-4;
batch 32.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from tfimagegen import data, metrics, training, vae  # noqa: E402


class TutorialVAE(vae.VAE):
    """The tutorial's loss: the KL term estimated from the same single sample of ``z``."""

    def loss_terms(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        mean, log_var = self.encoder(x, training=training)
        z = self.sampling([mean, log_var])
        logits = self.decoder(z, training=training)
        eps_sq = tf.square(z - mean) * tf.exp(-log_var)
        log_qz_x = -0.5 * tf.reduce_sum(eps_sq + log_var + vae.LOG_2PI, axis=1)
        log_pz = -0.5 * tf.reduce_sum(tf.square(z) + vae.LOG_2PI, axis=1)
        return vae.reconstruction_loss(x, logits), log_qz_x - log_pz


def tutorial_vae(latent_dim: int, seed: int) -> vae.VAE:
    image = keras.Input((28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, activation="relu")(image)
    h = layers.Conv2D(64, 3, strides=2, activation="relu")(h)
    h = layers.Dense(2 * latent_dim)(layers.Flatten()(h))
    mean, log_var = layers.Lambda(lambda t: tf.split(t, 2, axis=1))(h)
    encoder = keras.Model(image, [mean, log_var], name="tutorial_encoder")
    decoder = keras.Sequential([
        keras.Input((latent_dim,)),
        layers.Dense(7 * 7 * 32, activation="relu"), layers.Reshape((7, 7, 32)),
        layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(1, 3, strides=1, padding="same"),
    ], name="tutorial_decoder")
    model = TutorialVAE(encoder, decoder, seed=seed)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    return model


SPLITS = {split: data.load_mnist(split, source="embedded")[0]
          for split in ("train", "validation", "test")}


def score(model: vae.VAE, seconds: float, epochs: int, seed: int, split: str) -> dict:
    """The scores of ``model`` on the ``"validation"`` or the ``"test"`` digits."""
    digits = SPLITS[split]
    z = tf.random.stateless_normal((metrics.EVAL_SAMPLES, model.latent_dim), seed=[seed, 9])
    return {"epochs": epochs, "minutes": seconds / 60,
            "train_elbo": vae.elbo(model, SPLITS["train"][:1000]), "elbo": vae.elbo(model, digits),
            "iwae": vae.iwae_bound(model, digits, k=50),
            **metrics.evaluate(model.sample(z).numpy(), digits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latent-dim", type=int, default=vae.Recipe.latent_dim)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    binary = data.binarize(SPLITS["train"])
    models = {}

    recipe = vae.Recipe(latent_dim=args.latent_dim)
    keras.utils.set_random_seed(args.seed)
    ours = vae.build_vae(recipe, seed=args.seed)
    start = time.perf_counter()
    ours.fit(data.as_dataset(binary, recipe.batch_size, seed=args.seed, scale="unit",
                             repeat=True),
             epochs=recipe.epochs, steps_per_epoch=recipe.steps_per_epoch, verbose=0)
    budget = time.perf_counter() - start
    models["tfimagegen recipe"] = (ours, budget, recipe.epochs)

    keras.utils.set_random_seed(args.seed)
    tutorial = tutorial_vae(args.latent_dim, args.seed)
    stop = training.TimeBudget(budget)
    start = time.perf_counter()
    tutorial.fit(data.as_dataset(binary, 32, seed=args.seed, scale="unit"), epochs=100_000,
                 verbose=0, shuffle=False, callbacks=[stop])
    models["TF CVAE tutorial"] = (tutorial, time.perf_counter() - start, stop.epochs)

    print(f"latent dim {args.latent_dim}, budget {budget:.0f} s (the recipe's {recipe.epochs} "
          f"epochs), 3,000 embedded MNIST training digits binarised at 0.5; nats per image")
    for split, why in (("validation", "what recipes are chosen by"), ("test", "reported once")):
        rows = {name: score(*entry, args.seed, split) for name, entry in models.items()}
        print(f"on the 1,000 {split} digits ({why}):")
        header = ["", "epochs", "min", "train", "ELBO", "IWAE-50", "FD", "KID", "class", "prec",
                  "recall"]
        print(f"{header[0]:20}" + "".join(f"{h:>9}" for h in header[1:]))
        for name, r in rows.items():
            print(f"{name:20}{r['epochs']:>9}{r['minutes']:9.1f}{r['train_elbo']:9.2f}"
                  f"{r['elbo']:9.2f}{r['iwae']:9.2f}{r['fd']:9.2f}{r['kid']:9.3f}"
                  f"{r['class_score']:9.2f}{r['precision']:9.2f}{r['recall']:9.2f}")
        gain = rows["tfimagegen recipe"]["elbo"] - rows["TF CVAE tutorial"]["elbo"]
        print(f"{split} ELBO gain over the tutorial at the same budget: {gain:+.2f} nats")


if __name__ == "__main__":
    main()
