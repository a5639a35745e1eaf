"""tfimagegen.images: file round-trips, atomic writes, the sample photo, grids."""

import numpy as np
import pytest

from tfimagegen import images


def test_png_round_trip_is_exact(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert np.array_equal(images.load_image(images.save_image(tmp_path / "a.png", rgb)), rgb)
    grey = rgb[..., :1]
    assert np.array_equal(images.load_image(images.save_image(tmp_path / "g.png", grey)), grey)


def test_float_images_are_saved_as_uint8(tmp_path):
    x = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    back = images.load_image(images.save_image(tmp_path / "f.png", x))
    assert back.shape == (16, 16, 1) and back.max() == 255 and back.min() == 0


def test_save_leaves_no_temporary_file_and_no_partial_file_on_error(tmp_path):
    images.save_image(tmp_path / "ok.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        images.save_image(tmp_path / "bad.png", np.full((4, 4), 2.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png"]


@pytest.mark.parametrize("shape", [(4,), (4, 4, 2), (2, 4, 4, 3)])
def test_save_rejects_bad_shapes(tmp_path, shape):
    with pytest.raises(ValueError, match="got shape"):
        images.save_image(tmp_path / "x.png", np.zeros(shape, np.uint8))


def test_save_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        images.save_image(tmp_path / "x.notanimage", np.zeros((4, 4), np.uint8))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image file"):
        images.load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image file"):
        images.load_image(tmp_path / "text.png")


def test_sample_image_is_a_real_colour_photo():
    photo = images.sample_image()
    assert photo.shape == (600, 512, 3) and photo.dtype == np.uint8
    assert photo.std() > 40  # a photo, not a flat placeholder


def test_to_uint8_maps_tanh_range():
    out = images.to_uint8(np.array([-1.0, 0.0, 1.0, 3.0]), value_range=(-1, 1))
    assert out.tolist() == [0, 128, 255, 255]
    with pytest.raises(TypeError, match="int64"):
        images.to_uint8(np.array([1, 2]))


def test_show_grid_lays_out_rows_and_titles():
    fig = images.show_grid(np.zeros((5, 8, 8, 1), np.uint8), titles=list("abcde"), ncols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5
    assert [ax.get_title() for ax in shown] == list("abcde")


def test_show_grid_labels_rows_and_columns():
    fig = images.show_grid(np.zeros((6, 8, 8, 1), np.uint8), ncols=3, row_titles=["GAN", "VAE"],
                           col_titles=["t = 1", "t = 0.5", "t = 0"])
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_ylabel() for ax in shown] == ["GAN", "", "", "VAE", "", ""]
    assert [ax.get_title() for ax in shown] == ["t = 1", "t = 0.5", "t = 0", "", "", ""]
    assert fig._repr_png_().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="row_titles must have one entry per row: 2 rows, got 1"):
        images.show_grid(np.zeros((6, 8, 8)), ncols=3, row_titles=["GAN"])
    with pytest.raises(ValueError, match="col_titles must have one entry per col"):
        images.show_grid(np.zeros((6, 8, 8)), ncols=3, col_titles=["a"])


def test_show_grid_bad_input():
    with pytest.raises(ValueError, match="at least one image"):
        images.show_grid([])
    with pytest.raises(ValueError, match="one entry per image"):
        images.show_grid(np.zeros((2, 4, 4)), titles=["a"])
    with pytest.raises(ValueError, match="image 1 spans"):
        images.show_grid([np.zeros((4, 4)), np.full((4, 4), -1.0)])


def test_show_grid_draws_itself_as_a_png_without_pyplot():
    """Jupyter shows ``<Figure size ...>`` for a bare Figure until pyplot is set up."""
    fig = images.show_grid(np.zeros((2, 8, 8), np.uint8))
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("dpi", [72, 100])
@pytest.mark.parametrize("batch, kwargs", [
    (np.zeros((100, 28, 28), np.uint8), {"ncols": 10, "size": 0.5}),
    (np.zeros((4, 280, 280), np.uint8), {"size": 2.0, "titles": list("abcd")}),
])
def test_show_grid_gives_every_image_pixel_a_screen_pixel(batch, kwargs, dpi, monkeypatch):
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "figure.dpi", dpi)
    fig = images.show_grid(batch, **kwargs)
    fig._repr_png_()  # lay out and draw, as Jupyter does
    shown = [ax.images[0].get_window_extent() for ax in fig.axes if ax.images]
    assert min(box.width for box in shown) >= batch.shape[2]
    assert min(box.height for box in shown) >= batch.shape[1]


def test_show_grid_rejects_a_bad_ncols():
    with pytest.raises(ValueError, match="ncols must be an int >= 1, got 0"):
        images.show_grid(np.zeros((2, 4, 4)), ncols=0)


def test_to_uint8_rejects_nan_and_an_empty_range():
    with pytest.raises(ValueError, match="NaN or inf"):
        images.to_uint8(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match=r"low < high, got \(1, 1\)"):
        images.to_uint8(np.array([0.5]), value_range=(1, 1))


def test_load_image_scales_16_bit_grey_and_keeps_grey_with_alpha(tmp_path):
    from PIL import Image

    wide = np.array([[0, 257, 32896, 65535]], np.uint16)
    Image.fromarray(wide).save(tmp_path / "wide.png")  # a 16-bit greyscale PNG
    assert images.load_image(tmp_path / "wide.png")[..., 0].tolist() == [[0, 1, 128, 255]]
    Image.fromarray(np.full((2, 3, 2), 90, np.uint8), mode="LA").save(tmp_path / "la.png")
    grey = images.load_image(tmp_path / "la.png")
    assert grey.shape == (2, 3, 1) and grey.max() == 90


def test_load_image_refuses_a_huge_image_from_its_header(tmp_path):
    import struct
    import zlib

    from PIL import Image

    Image.new("L", (1, 1)).save(tmp_path / "small.png")
    png = bytearray((tmp_path / "small.png").read_bytes())
    png[16:24] = struct.pack(">II", 30_000, 30_000)  # IHDR width and height
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    (tmp_path / "huge.png").write_bytes(bytes(png))
    with pytest.raises(ValueError, match="huge.png is too large .* images above 50,000,000"):
        images.load_image(tmp_path / "huge.png")
    png[16:24] = struct.pack(">II", 10_000, 10_000)  # below Pillow's own limit, above ours
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    (tmp_path / "big.png").write_bytes(bytes(png))
    with pytest.raises(ValueError, match="big.png is 10000x10000 pixels; images above 50,000,000"):
        images.load_image(tmp_path / "big.png")


def test_saving_over_a_folder_names_it(tmp_path):
    (tmp_path / "out.png").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder, not a file") as caught:
        images.save_image(tmp_path / "out.png", np.zeros((4, 4), np.uint8))
    assert caught.value.filename == str(tmp_path / "out.png")
