"""Text to image: tokens, the tiny CLIP, cross-attention, and prompts through the CLI."""

import json

import numpy as np
import pytest

from tfimagegen import runs, text
from tfimagegen.__main__ import main

CAPTIONS = ("woman pilot: dark skin tone", "cat face", "kiss: woman, man, medium-light skin tone")


def test_captions_split_on_spaces_colons_commas_and_hyphens_lower_cased():
    assert text.words("Kiss: woman, MAN, medium-light skin tone") == [
        "kiss", "woman", "man", "medium", "light", "skin", "tone"]
    assert text.words(" ,: - ") == []


def test_vocabulary_numbers_sorted_training_words_and_pads_rows_after_the_start_word():
    vocabulary = text.Vocabulary.build(CAPTIONS)
    assert vocabulary.words == tuple(sorted(set(sum((text.words(c) for c in CAPTIONS), []))))
    assert vocabulary.length == 1 + 7  # the start word and the longest caption's 7 words
    rows = vocabulary.encode(["cat face", ""])
    assert rows.dtype == np.int32 and rows.shape == (2, 8)
    cat, face = (vocabulary.words.index(w) + 2 for w in ("cat", "face"))
    assert rows[0].tolist() == [text.START, cat, face] + [text.PAD] * 5
    assert rows[1].tolist() == [text.START] + [text.PAD] * 7  # the empty caption
    assert vocabulary.decode(rows[0]) == "cat face"
    assert text.Vocabulary.from_json(json.loads(json.dumps(vocabulary.to_json()))) == vocabulary


@pytest.mark.parametrize("prompt, message", [
    ("purple cat", "the word 'purple' is not in this model's vocabulary"),
    ("  ", "--prompt is empty"),
    ("cat " * 8, "--prompt has 8 words; this model reads at most 7"),
])
def test_prompts_outside_the_vocabulary_are_refused_naming_the_problem(prompt, message):
    vocabulary = text.Vocabulary.build(CAPTIONS)
    with pytest.raises(ValueError, match=message):
        vocabulary.check(prompt)
    if prompt.strip():  # encode refuses them too; "" is the empty caption
        with pytest.raises(ValueError, match=message):
            vocabulary.encode([prompt])


def test_unknown_words_are_left_out_when_scoring_held_out_captions():
    vocabulary = text.Vocabulary.build(CAPTIONS)
    assert vocabulary.encode(["purple cat face"], strict=False).tolist() == \
        vocabulary.encode(["cat face"]).tolist()


def test_contrastive_loss_is_the_symmetric_cross_entropy_of_matching_pairs():
    import tensorflow as tf

    from tfimagegen import clip

    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    un = u / np.linalg.norm(u, axis=1, keepdims=True)
    vn = v / np.linalg.norm(v, axis=1, keepdims=True)
    logits = 10.0 * un @ vn.T

    def xent(m):
        return -np.diag(m) + np.log(np.exp(m).sum(1))

    expected = 0.5 * (xent(logits) + xent(logits.T))
    got = clip.contrastive_loss(tf.constant(u, tf.float32), tf.constant(v, tf.float32), 10.0)
    assert np.allclose(got.numpy(), expected, atol=1e-5)
    aligned = clip.contrastive_loss(tf.eye(4), tf.eye(4), clip.MAX_SCALE).numpy()
    assert aligned.max() < 1e-6  # each image and its caption alone point the same way


def test_retrieval_counts_the_right_partner_in_the_top_k_each_way():
    from tfimagegen import clip

    eye = np.eye(4, dtype=np.float32)
    assert set(clip.retrieval(eye, eye).values()) == {1.0}
    swapped = eye[[1, 0, 2, 3]]  # captions 0 and 1 swapped: 2 of 4 right at top 1
    scores = clip.retrieval(eye, swapped, ks=(1, 2))
    assert scores["caption_to_image_top1"] == scores["image_to_caption_top1"] == 0.5
    assert scores["image_to_caption_top2"] == 1.0  # one wrong caption beats the right one
    with pytest.raises(ValueError, match="two matching"):
        clip.retrieval(eye, eye[:3])


def test_cross_attention_starts_as_the_identity_and_never_attends_to_padding():
    import keras

    from tfimagegen import textflow

    rng = np.random.default_rng(0)
    fresh = textflow.CrossAttention(heads=2)  # attend may come first: it builds the layer
    assert fresh.attend(rng.normal(size=(1, 2, 2, 8)).astype(np.float32),
                        rng.normal(size=(1, 3, 6)).astype(np.float32),
                        np.array([[1, 5, 0]], np.int32))[1].shape == (1, 2, 4, 3)
    layer = textflow.CrossAttention(heads=2)
    h = rng.normal(size=(2, 4, 4, 8)).astype(np.float32)
    words = rng.normal(size=(2, 5, 6)).astype(np.float32)
    tokens = np.array([[1, 7, 3, 0, 0], [1, 0, 0, 0, 0]], np.int32)
    assert np.allclose(layer(h, words, tokens), h)  # its output projection starts at zero
    _, scores = layer.attend(h, words, tokens)
    scores = keras.ops.convert_to_numpy(scores)
    assert scores.shape == (2, 2, 16, 5)  # batch, heads, 4 x 4 positions, words
    assert np.allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert np.abs(scores[0, ..., 3:]).max() == 0 and np.abs(scores[1, ..., 1:]).max() == 0


@pytest.mark.parametrize("conditioning", ["cross-attention", "film"])
def test_text_latent_unet_reads_tokens_through_a_frozen_text_encoder(conditioning):
    from tfimagegen import clip, diffusion

    vocabulary = text.Vocabulary.build(CAPTIONS)
    encoder = clip.make_text_encoder(vocabulary, width=16, heads=2, depth=1)
    net = diffusion.make_latent_unet((8, 8, 4), width=16, text_encoder=encoder,
                                     conditioning=conditioning)
    assert [i.name for i in net.inputs] == ["z_t", "t", "tokens"]
    attention = [layer for layer in net.layers if layer.name.startswith("cross_attention")]
    assert len(attention) == (6 if conditioning == "cross-attention" else 0)
    tokens = vocabulary.encode(["cat face", "woman pilot: dark skin tone"])
    out = net([np.zeros((2, 8, 8, 4), np.float32), np.full(2, 0.5, np.float32), tokens])
    assert out.shape == (2, 8, 8, 4)
    trained = {id(v) for v in net.trainable_variables}
    assert not any(id(v) in trained for v in encoder.weights)
    with pytest.raises(ValueError, match="conditioning must be one of"):
        diffusion.make_latent_unet((8, 8, 4), width=16, text_encoder=encoder,
                                   conditioning="concat")


def test_clip_trains_on_two_cpu_replicas(two_replica_training):
    report = two_replica_training(
        "from tfimagegen import clip, text\n"
        "x = np.repeat(x, 3, axis=-1)[:256]\n"
        "names = [f'digit {int(d)} number {i % 7}' for i, d in enumerate(y[:256])]\n"
        "vocabulary = text.Vocabulary.build(names)\n"
        "model = clip.build_clip(clip.Recipe(width=8, embed_dim=16, text_width=16, heads=2,"
        " text_layers=1), vocabulary=vocabulary, image_shape=x.shape[1:], strategy=strategy)\n"
        "dataset = tf.data.Dataset.from_tensor_slices((clip.scale_images(x),"
        " vocabulary.encode(names))).batch(64, drop_remainder=True)")
    assert report == {"replicas": 2, "mirrored": report["mirrored"], "agree": True,
                      "finite": True}
    assert report["mirrored"] > 0


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory):
    """A quick emoji VAE, CLIP and text-conditioned latent flow, trained through the CLI."""
    root = tmp_path_factory.mktemp("text")
    vae, clip_run, flow = root / "vae", root / "clip", root / "flow"
    assert main(["train", "vae", "--data", "emoji", "--quick", "--epochs", "1",
                 "--out", str(vae)]) == 0
    assert main(["train", "clip", "--data", "emoji", "--quick", "--epochs", "1",
                 "--out", str(clip_run)]) == 0
    assert main(["train", "diffusion", "--data", "emoji", "--latent", str(vae), "--text",
                 str(clip_run), "--quick", "--epochs", "1", "--out", str(flow)]) == 0
    return {"vae": vae, "clip": clip_run, "flow": flow}


def test_a_clip_run_keeps_its_vocabulary_has_no_grids_and_resumes(text_runs):
    from tfimagegen import emoji

    clip_run = text_runs["clip"]
    vocabulary = text.Vocabulary.load(clip_run)
    record = json.loads((clip_run / "run.json").read_text())
    assert record["model"] == "clip" and record["dataset"]["source"] == "emoji"
    assert not (clip_run / "grids").exists() and not (clip_run / "samples.png").exists()
    history = json.loads((clip_run / "history.json").read_text())["epochs"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    quick_words = set(text.words(" ".join(runs.rundata.load("emoji", quick=True).captions)))
    assert set(vocabulary.words) == quick_words  # the words of the captions it trained on
    every_word = set(text.words(" ".join(emoji.load("train")[3])))
    assert all(set(text.words(c)) <= every_word for c in emoji.load("compositions")[3])
    assert main(["train", "clip", "--data", "emoji", "--quick", "--epochs", "2",
                 "--out", str(clip_run)]) == 0
    assert len(json.loads((clip_run / "history.json").read_text())["epochs"]) == 2


def test_a_loaded_clip_embeds_images_and_captions_as_unit_vectors(text_runs):
    from tfimagegen import emoji

    model, _ = runs.load_run_model(text_runs["clip"])
    images, _, _, captions = emoji.load("compositions")
    u = model.embed_images(images[:6])
    v = model.embed_captions(captions[:6], strict=False)
    assert u.shape == v.shape == (6, model.embed_dim)
    assert np.allclose(np.linalg.norm(u, axis=1), 1) and np.allclose(np.linalg.norm(v, axis=1), 1)
    assert 0 <= model.scale.numpy() <= 100


def test_a_prompt_draws_the_same_images_for_the_same_seed(text_runs, tmp_path):
    flow = text_runs["flow"]
    assert (flow / text.VOCABULARY_FILE).read_text() == \
        (text_runs["clip"] / text.VOCABULARY_FILE).read_text()
    args = ["sample", str(flow), "--prompt", "woman pilot: dark skin tone", "--num", "3",
            "--seed", "4", "--steps", "2"]
    assert main([*args, "--out", str(tmp_path / "a.npz"), "--grid"]) == 0
    assert main([*args, "--out", str(tmp_path / "b.npz")]) == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a["images"].shape == (3, 32, 32, 3) and np.array_equal(a["images"], b["images"])
    assert list(a["captions"]) == ["woman pilot: dark skin tone"] * 3
    assert (tmp_path / "a.png").is_file() and not (tmp_path / "b.png").exists()
    other = runs.sample_with_labels(flow, 3, seed=4, prompt="cat face", steps=2)[0]
    assert not np.array_equal(other, a["images"])  # the words change the picture
    model, _ = runs.load_run_model(flow)
    assert model.vocabulary == text.Vocabulary.load(flow)  # the model file carries it too
    assert len(model.velocity.trainable_variables) < len(model.velocity.weights)


@pytest.mark.parametrize("args, message", [
    (["{flow}", "--prompt", "purple unicorn"], "the word 'purple' is not in this model's"),
    (["{flow}", "--prompt", ""], "--prompt is empty"),
    (["{flow}", "--prompt", "cat face", "--label", "1"], "--prompt says what to draw"),
    (["{flow}", "--prompt", "cat face", "--class", "Flags"], "--prompt says what to draw"),
    (["{flow}"], "draws what a caption says; give --prompt"),
    (["{vae}", "--prompt", "cat face"], "holds a vae run that is not text-conditioned"),
    (["{clip}"], "holds a clip run, which draws nothing"),
    (["{clip}", "--prompt", "cat face"], "holds a clip run, which draws nothing"),
])
def test_sample_refuses_prompts_it_cannot_draw_in_one_line(text_runs, tmp_path, capsys, args,
                                                          message):
    out = tmp_path / "s.npz"
    argv = ["sample", *[a.format(**text_runs) for a in args], "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["diffusion", "--text", "{clip}"], "--text needs --latent with a spatial VAE run"),
    (["diffusion", "--latent", "{vae}", "--text", "{vae}"], "must be a clip run"),
    (["diffusion", "--latent", "{vae}", "--text", "{missing}"], "no such run folder"),
    (["diffusion", "--latent", "{vae}", "--text", "{clip}", "--unconditional"],
     "--text is a condition"),
    (["gan", "--text", "{clip}"], "--text is for diffusion runs"),
    (["clip", "--data", "mnist"], "--data mnist has no captions"),
    (["clip", "--latent", "{vae}"], "--latent is for diffusion runs"),
])
def test_train_refuses_text_options_it_cannot_use_in_one_line(text_runs, tmp_path, capsys,
                                                              args, message):
    paths = {**text_runs, "missing": tmp_path / "missing"}
    out = tmp_path / "run"
    argv = ["train", *[a.format(**paths) for a in args], "--quick", "--out", str(out)]
    if "--data" not in argv:
        argv += ["--data", "emoji"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def _captioned_folder(root, lines=None):
    """Twelve 20-px PNGs in two class folders, captioned by colour and shape."""
    from PIL import Image

    records = []
    for i in range(12):
        kind = ("red", "blue")[i % 2]
        path = root / f"{kind}s" / f"{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        colour = (200 + i, 0, 0) if kind == "red" else (0, 0, 200 + i)
        Image.new("RGB", (20, 20), colour).save(path)
        records.append({"file_name": f"{kind}s/{i:02d}.png", "text": f"{kind} square {i}"})
    body = "\n".join(json.dumps(r) for r in records) if lines is None else "\n".join(lines)
    (root / "metadata.jsonl").write_text(body + "\n")
    return records


def test_a_folder_reads_captions_from_metadata_jsonl_beside_its_images(tmp_path):
    from tfimagegen import folder

    records = _captioned_folder(tmp_path)
    images, labels, names, captions = folder.load_captioned(tmp_path, "all", image_size=16)
    assert names == ("blues", "reds") and images.shape == (12, 16, 16, 3)
    by_file = {r["file_name"]: r["text"] for r in records}
    order = sorted(by_file)  # the folder's files, in the order they are read
    assert captions == tuple(by_file[f] for f in order)
    blue = [c.startswith("blue") for c in captions]
    assert list(labels) == [0 if b else 1 for b in blue]  # each caption stays with its image
    train = folder.load_captioned(tmp_path, "train", image_size=16)
    assert len(train[3]) == len(train[0]) and set(train[3]) <= set(captions)
    assert folder.load(tmp_path, "all", image_size=16)[0].shape == images.shape


@pytest.mark.parametrize("lines, message", [
    (['{"file_name": "reds/00.png", "text": "red"}'], "has no caption for 11 of 12 images"),
    (["not json"], "line 1: not JSON"),
    (['{"file_name": "reds/00.png", "text": 3}'], "line 1: expected"),
])
def test_a_bad_metadata_jsonl_is_one_line_naming_the_file_and_line(tmp_path, capsys, lines,
                                                                   message):
    _captioned_folder(tmp_path / "data", lines)
    out = tmp_path / "run"
    assert main(["train", "clip", "--data", str(tmp_path / "data"), "--image-size", "16",
                 "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "metadata.jsonl" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_clip_trains_on_a_captioned_folder_of_your_own(tmp_path, capsys):
    records = _captioned_folder(tmp_path / "data")
    out = tmp_path / "clip"
    args = ["train", "clip", "--data", str(tmp_path / "data"), "--image-size", "16", "--quick",
            "--out", str(out)]
    assert main([*args, "--epochs", "1"]) == 0
    assert {"red", "blue", "square"} <= set(text.Vocabulary.load(out).words)
    recaptioned = [json.dumps({**r, "text": r["text"].replace("square", "tile")})
                   for r in records]
    (tmp_path / "data" / "metadata.jsonl").write_text("\n".join(recaptioned) + "\n")
    capsys.readouterr()
    assert main([*args, "--epochs", "2"]) == 2  # the same images, other captions
    assert "trained on other captions" in capsys.readouterr().err


def test_the_tone_reader_finds_openmojis_fills_in_the_training_glyphs():
    from tfimagegen import emoji, skintone

    train = emoji.load("train")
    reader = skintone.ToneReader.from_glyphs(train[0], train[3])
    assert reader.fills.shape == (5, 3)
    lightness = reader.fills.mean(1)
    assert np.all(np.diff(lightness) < 0)  # light to dark, in order
    # OpenMoji's light and dark fills, #FADCBC and #6A462F, read back to within a level
    assert np.abs(reader.fills[0] - [0xFA, 0xDC, 0xBC]).max() <= 1
    assert np.abs(reader.fills[4] - [0x6A, 0x46, 0x2F]).max() <= 1
    held_out = emoji.load("compositions")
    accuracy, count = reader.accuracy(held_out[0], held_out[3])
    one_tone = [skintone.single_tone(c) for c in held_out[3] if skintone.single_tone(c)]
    assert count == sum(base in reader.masks for base, _ in one_tone) >= 0.9 * len(one_tone)
    assert accuracy >= 0.8  # chance is 0.2
    assert reader.read(held_out[0][:1], ["no such base"]).tolist() == [-1]


def test_single_tone_reads_one_tone_and_refuses_two():
    from tfimagegen import skintone

    assert skintone.single_tone("woman pilot: dark skin tone") == ("woman pilot", 4)
    assert skintone.single_tone("person: light skin tone, beard") == ("person: beard", 0)
    assert skintone.single_tone("handshake: light skin tone, dark skin tone") is None
    assert skintone.single_tone("cat face") is None


def test_the_real_held_out_glyphs_are_nearest_to_a_sibling_of_their_own_base():
    from tfimagegen import compositions, emoji

    train, held_out = emoji.load("train"), emoji.load("compositions")
    role = compositions.role_right(held_out[0], held_out[3], train[0], train[3])
    assert role.shape == (len(held_out[3]),) and role.mean() >= 0.8
    wrong = compositions.role_right(held_out[0], list(held_out[3][1:]) + [held_out[3][0]],
                                    train[0], train[3])
    assert wrong.mean() < 0.5  # the captions shifted by one: mostly another base


def test_a_text_flow_drops_to_the_empty_caption_and_checks_its_caption_rows():
    import dataclasses

    from tfimagegen import clip, diffusion, recipes, vae

    vocabulary = text.Vocabulary.build(CAPTIONS)
    encoder = clip.make_text_encoder(vocabulary, width=16, heads=2, depth=1)
    decoder = vae.make_spatial_decoder((16, 16, 3), 4, 4, width=8)
    latents = np.random.default_rng(0).normal(size=(32, 4, 4, 4)).astype(np.float32)
    recipe = dataclasses.replace(recipes.DiffusionRecipe().for_latents("vae", True)
                                 .for_text("clip"), width=16, steps=2)
    model = diffusion.build_flow(recipe, 0, decoder=decoder, latents=latents,
                                 text_encoder=encoder, vocabulary=vocabulary)
    rows = vocabulary.encode(["cat face", CAPTIONS[2]])
    null = model.null_condition(rows).numpy()
    assert null.tolist() == vocabulary.encode(["", ""]).tolist()
    tokens = vocabulary.encode([CAPTIONS[2]] * 32)
    dataset = diffusion.latent_dataset(diffusion.standardize(model, latents), tokens, 8, seed=0)
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    noise = np.random.default_rng(1).normal(size=(2, 4, 4, 4)).astype(np.float32)
    out = model.generate(noise, rows)
    assert out.shape == (2, 16, 16, 3) and np.array_equal(out, model.generate(noise, rows))
    assert model.generate(noise).shape == out.shape  # no rows: the empty caption
    with pytest.raises(ValueError, match=r"caption rows of shape \(2, 8\)"):
        model.generate(noise, np.array([1, 2]))
    with pytest.raises(ValueError, match="word ids in"):
        model.generate(noise, np.full((2, 8), vocabulary.size))
    with pytest.raises(ValueError, match="told captions, not classes"):
        diffusion.FlowMatching(model.velocity, num_classes=3, vocabulary=vocabulary.to_json())
