"""Tests for nstlib.io: loading every kind of source, bad input messages, atomic saving."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from nstlib.io import (
    MAX_SIDE,
    ImageError,
    ImageNotFoundError,
    atomic_write,
    check_image,
    load_image,
    save_image,
    to_display,
    to_numpy,
    to_pil,
    to_png,
)


def _is_standard(t: torch.Tensor, h: int, w: int) -> None:
    assert isinstance(t, torch.Tensor)
    assert t.dtype == torch.float32
    assert tuple(t.shape) == (1, 3, h, w)
    assert 0.0 <= t.min().item() and t.max().item() <= 1.0


# --------------------------------------------------------------------------- good inputs


def test_png_roundtrip_keeps_pixels(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "x.png")
    t = load_image(tmp_path / "x.png")  # pathlib.Path
    _is_standard(t, 5, 7)
    np.testing.assert_allclose(t[0].permute(1, 2, 0).numpy(), a / 255.0, atol=1e-6)
    assert torch.equal(load_image(str(tmp_path / "x.png")), t)  # str path


def test_grayscale_png_becomes_three_equal_channels(tmp_path):
    Image.fromarray(np.array([[0, 51], [102, 255]], np.uint8), mode="L").save(tmp_path / "g.png")
    t = load_image(tmp_path / "g.png")
    _is_standard(t, 2, 2)
    for c in range(3):
        np.testing.assert_allclose(t[0, c].numpy(), [[0.0, 0.2], [0.4, 1.0]], atol=1e-6)


def test_16bit_png_scaled_by_65535_not_clipped(tmp_path):
    a = np.array([[0, 32768], [65535, 1000]], np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")  # really a 16-bit file
    t = load_image(tmp_path / "g16.png")
    _is_standard(t, 2, 2)
    np.testing.assert_allclose(t[0, 1].numpy(), a / 65535.0, atol=1e-4)
    assert abs(t[0, 0, 0, 1].item() - 0.5) < 1e-4


def test_rgba_png_composited_on_white(tmp_path):
    a = np.zeros((2, 2, 4), np.uint8)
    a[..., 0], a[..., 3] = 255, 128  # half-transparent red
    a[1, 1] = (0, 0, 255, 0)  # fully transparent blue -> white
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    t = load_image(tmp_path / "a.png")
    alpha = 128 / 255
    # over white: c * alpha + 1 * (1 - alpha)
    np.testing.assert_allclose(t[0, :, 0, 0].numpy(), [1.0, 1 - alpha, 1 - alpha], atol=1e-6)
    np.testing.assert_allclose(t[0, :, 1, 1].numpy(), [1.0, 1.0, 1.0], atol=1e-6)


def test_palette_gif_with_transparency_composited_on_white(tmp_path):
    p = Image.new("P", (3, 2), 0)
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red, index 1 blue
    p.putpixel((2, 1), 1)
    p.save(tmp_path / "p.gif", transparency=1)  # index 1 is transparent
    t = load_image(tmp_path / "p.gif")
    _is_standard(t, 2, 3)
    np.testing.assert_allclose(t[0, :, 0, 0].numpy(), [1.0, 0.0, 0.0])  # red stays red
    np.testing.assert_allclose(t[0, :, 1, 2].numpy(), [1.0, 1.0, 1.0])  # transparent -> white


def test_exif_rotated_jpeg_is_loaded_upright(tmp_path):
    a = np.full((20, 40, 3), 255, np.uint8)  # stored landscape: H=20, W=40
    a[:6, :6] = (255, 0, 0)  # red marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: display rotated 90 degrees clockwise
    Image.fromarray(a).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    t = load_image(tmp_path / "r.jpg")
    _is_standard(t, 40, 20)  # shown as portrait
    upright = np.rot90(a, k=-1)  # clockwise: the marker goes to the top-right corner
    assert upright[2, 17].tolist() == [255, 0, 0]
    assert t[0, :, 2, 17].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=0.1)
    assert t[0, :, 2, 2].tolist() == pytest.approx([1.0, 1.0, 1.0], abs=0.1)  # top-left is white


def test_1x1_image_loads(tmp_path):
    Image.new("RGB", (1, 1), (0, 255, 0)).save(tmp_path / "one.png")
    t = load_image(tmp_path / "one.png")
    _is_standard(t, 1, 1)
    assert t.flatten().tolist() == [0.0, 1.0, 0.0]


def _constant_png(path: Path, w: int, h: int, value: int) -> None:
    """A gray PNG written row by row (never holds w*h bytes): ~0.5 MB for 10000 x 10000."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    z = zlib.compressobj(1)
    row = b"\x00" + bytes([value]) * w  # filter byte 0, then the row
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_huge_image_is_downsized_with_a_warning(tmp_path):
    _constant_png(tmp_path / "huge.png", 10000, 10000, 200)
    with pytest.warns(UserWarning, match=r"10000x10000.*downsized to 4096x4096") as rec:
        t = load_image(tmp_path / "huge.png")
    assert "huge.png" in str(rec[0].message)
    assert MAX_SIDE == 4096
    assert tuple(t.shape) == (1, 3, 4096, 4096)
    assert t.min().item() == pytest.approx(200 / 255, abs=1e-3)
    assert t.max().item() == pytest.approx(200 / 255, abs=1e-3)


def test_size_int_is_longer_side_and_tuple_is_exact(tmp_path):
    Image.new("RGB", (60, 30), (10, 20, 30)).save(tmp_path / "w.png")
    _is_standard(load_image(tmp_path / "w.png", size=20), 10, 20)
    _is_standard(load_image(tmp_path / "w.png", size=(7, 9)), 7, 9)
    _is_standard(load_image(np.zeros((30, 60, 3), np.uint8), size=20), 10, 20)
    _is_standard(load_image(torch.rand(3, 30, 60), size=(7, 9)), 7, 9)


def test_resize_is_antialiased():
    # A 1-pixel checkerboard shrunk 4x must average to gray, not alias to black or white.
    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    for src in (checker, Image.fromarray(checker)):
        t = load_image(src, size=16)
        assert abs(t.mean().item() - 0.5) < 0.02
        assert t.std().item() < 0.05


def test_array_and_tensor_sources():
    a8 = np.array([[[255, 0, 51]]], np.uint8)
    assert load_image(a8).flatten().tolist() == pytest.approx([1.0, 0.0, 0.2])
    a16 = np.array([[[65535, 0, 13107]]], np.uint16)
    assert load_image(a16).flatten().tolist() == pytest.approx([1.0, 0.0, 0.2])
    af = np.array([[[0.25, 0.5, 0.75]]], np.float64)
    assert load_image(af).flatten().tolist() == pytest.approx([0.25, 0.5, 0.75])
    rgba = np.array([[[0.0, 0.0, 0.0, 0.25]]], np.float32)  # black at 25 % over white
    assert load_image(rgba).flatten().tolist() == pytest.approx([0.75] * 3)
    gray = torch.full((1, 1, 2, 2), 0.3)
    _is_standard(load_image(gray), 2, 2)
    assert load_image(gray[0])[0, 2, 0, 0].item() == pytest.approx(0.3)
    x = torch.rand(3, 4, 5, requires_grad=True)
    y = load_image(x)
    assert not y.requires_grad and torch.equal(y[0], x.detach())
    y.zero_()
    assert x.abs().sum() > 0  # a copy, not a view of the caller's tensor
    pil = Image.new("RGB", (3, 2), (255, 255, 0))
    assert load_image(pil)[0, :, 1, 2].tolist() == [1.0, 1.0, 0.0]


def test_builtin_name_loads():
    _is_standard(load_image("astronaut", size=64), 64, 64)
    _is_standard(load_image("waves", size=(16, 24)), 16, 24)


# --------------------------------------------------------------------------- bad inputs


def _message(excinfo) -> str:
    return str(excinfo.value)


def test_missing_path_names_path_and_builtins(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageNotFoundError) as e:
        load_image(str(missing))
    msg = _message(e)
    assert str(missing) in msg and "neither an existing file nor a built-in" in msg
    assert "nstlib.list_images()" in msg and "astronaut" in msg
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, ValueError)
    with pytest.raises(ImageNotFoundError, match="nope.png"):
        load_image(missing)  # a Path: not a name


def test_directory(tmp_path):
    with pytest.raises(ImageError, match=r"is a folder.*Pass the path of one image") as e:
        load_image(tmp_path)
    assert str(tmp_path) in _message(e)


def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg.*empty file \(0 bytes\).*again"):
        load_image(tmp_path / "empty.jpg")


def test_non_image_bytes(tmp_path):
    (tmp_path / "page.jpg").write_bytes(b"<html>Not Found</html>")
    with pytest.raises(ImageError, match=r"page\.jpg.*not an image file.*PNG or JPEG") as e:
        load_image(tmp_path / "page.jpg")
    assert "<html>" in _message(e)  # shows what the file starts with


@pytest.mark.parametrize("lenient_pil", [False, True])
def test_truncated_jpeg_errors(tmp_path, monkeypatch, lenient_pil):
    # Even if other code set PIL's LOAD_TRUNCATED_IMAGES, nstlib must refuse a cut-off file.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient_pil)
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg.*truncated or corrupt.*again"):
        load_image(tmp_path / "cut.jpg")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is lenient_pil  # restored


@pytest.mark.parametrize(
    "tensor, pattern",
    [
        (torch.rand(1, 3, 4, 4) * 255, r"values in \[.*\], expected \[0, 1\].*divide by 255"),
        (torch.rand(1, 3, 4, 4) * 2 - 1, r"expected \[0, 1\].*\(x \+ 1\) / 2"),
        (torch.rand(2, 3, 4, 4), r"batch of 2 images.*t\[i:i\+1\]"),
        (torch.rand(1, 4, 4, 3), r"shape \(1, 4, 4, 3\).*expected \(3, H, W\).*permute"),
        (torch.rand(4, 4), r"shape \(4, 4\).*expected"),
        ((torch.rand(1, 3, 4, 4) * 255).to(torch.uint8), r"dtype torch\.uint8.*divide by 255"),
        (torch.full((1, 3, 2, 2), float("nan")), r"NaN"),
    ],
)
def test_bad_tensors(tensor, pattern):
    with pytest.raises(ImageError, match=pattern):
        load_image(tensor)


def test_tiny_excess_is_clamped_not_rejected():
    t = load_image(torch.full((3, 2, 2), 1.0 + 1e-5))
    assert t.max().item() == 1.0


@pytest.mark.parametrize(
    "array, pattern",
    [
        (np.zeros((3, 8, 8), np.uint8), r"shape \(3, 8, 8\).*transpose\(1, 2, 0\)"),
        (np.full((2, 2, 3), 200.0), r"values in \[200, 200\].*divide by 255"),
        (np.zeros((2, 2, 3), np.int64), r"dtype int64.*astype\(np\.uint8\)"),
        (np.zeros((2, 2, 5), np.uint8), r"shape \(2, 2, 5\)"),
    ],
)
def test_bad_arrays(array, pattern):
    with pytest.raises(ImageError, match=pattern):
        load_image(array)


@pytest.mark.parametrize("size", [0, -5, (0, 10), 2.5, "big", (10,), (10, 2.0), True])
def test_bad_size(size):
    with pytest.raises(ImageError, match=r"size=.*(int|positive|tuple)"):
        load_image(np.zeros((4, 4), np.uint8), size=size)


def test_unsupported_source_type():
    with pytest.raises(ImageError, match=r"got a list.*file path"):
        load_image([[0, 1]])


# --------------------------------------------------------------------------- check_image & helpers


def test_check_image():
    t = torch.rand(1, 3, 5, 5)
    assert check_image(t) is t
    with pytest.raises(ImageError, match=r"^style has shape \(3, 5, 5\).*unsqueeze\(0\)"):
        check_image(t[0], name="style")
    with pytest.raises(ImageError, match=r"content has values in .*divide by 255"):
        check_image(t * 255, name="content")
    with pytest.raises(ImageError, match=r"dtype torch\.int64"):
        check_image(torch.zeros(1, 3, 2, 2, dtype=torch.long))
    with pytest.raises(ImageError, match=r"is a ndarray"):
        check_image(np.zeros((1, 3, 2, 2)))


def test_to_numpy_and_to_pil():
    t = torch.zeros(1, 3, 2, 4)
    t[0, 0, 1, 3] = 1.0
    a = to_numpy(t)
    assert a.shape == (2, 4, 3) and a.dtype == np.float32 and a[1, 3, 0] == 1.0
    pil = to_pil(t[0])
    assert pil.size == (4, 2) and pil.mode == "RGB"
    assert pil.getpixel((3, 1)) == (255, 0, 0)
    assert to_pil(torch.full((3, 1, 1), 0.5)).getpixel((0, 0)) == (128, 128, 128)


# --------------------------------------------------------------------------- save_image


def test_save_png_roundtrip_and_creates_parents(tmp_path):
    t = torch.rand(1, 3, 6, 5)
    out = save_image(t, tmp_path / "a" / "b" / "x.png")
    assert out == tmp_path / "a" / "b" / "x.png" and out.is_file()
    back = load_image(out)
    assert (back - t).abs().max().item() <= 0.5 / 255 + 1e-6  # 8-bit rounding only
    assert os.listdir(out.parent) == ["x.png"]  # no temporary file left behind


def test_save_jpeg_by_suffix(tmp_path):
    out = save_image(torch.full((3, 8, 8), 0.5), tmp_path / "x.JPG")
    assert Image.open(out).format == "JPEG"
    assert load_image(out).mean().item() == pytest.approx(0.5, abs=0.02)


def test_save_rejects_bad_input_and_suffix(tmp_path):
    with pytest.raises(ImageError, match=r"values in .*expected \[0, 1\].*divide by 255"):
        save_image(torch.full((1, 3, 2, 2), 255.0), tmp_path / "x.png")
    with pytest.raises(ImageError, match=r"x\.txt.*unknown image suffix.*\.png"):
        save_image(torch.rand(3, 2, 2), tmp_path / "x.txt")
    with pytest.raises(ImageError, match=r"got a ndarray.*load_image"):
        save_image(np.zeros((2, 2, 3)), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
    t = save_image(torch.full((3, 2, 2), 1.0005), tmp_path / "ok.png")  # tiny excess: clamped
    assert load_image(t).min().item() == 1.0


def test_save_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x.png"
    save_image(torch.zeros(3, 2, 2), target)
    before = target.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(torch.ones(3, 2, 2), target)
    assert target.read_bytes() == before  # old file intact
    assert os.listdir(tmp_path) == ["x.png"]  # temp file removed


def test_no_warnings_for_normal_loads(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(tmp_path / "x.png", size=4)


# --------------------------------------------------------------------------- to_display, to_png


def test_to_display_clamps_and_handles_every_layout():
    t = torch.tensor([[[-0.5, 0.25], [0.75, 2.0]]])  # (1, 2, 2): one gray channel
    rgb = t.expand(3, 2, 2)[None].clone().requires_grad_(True)  # (1, 3, 2, 2), needs a gradient
    expected = np.array([[0.0, 0.25], [0.75, 1.0]], np.float32)  # clamped by hand
    out = to_display(rgb)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.repeat(expected[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(to_display(t), expected)  # gray -> (H, W) for a gray colormap
    np.testing.assert_array_equal(to_display(t[0]), expected)  # (H, W) tensor
    batch = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])  # (2, 3, 2, 2): the first is shown
    assert to_display(batch).max() == 0.0
    u8 = np.array([[0, 51], [255, 102]], np.uint8)
    np.testing.assert_allclose(to_display(u8), [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)  # 0..255 data
    np.testing.assert_allclose(to_display(torch.from_numpy(u8)), [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)
    np.testing.assert_array_equal(to_display(Image.fromarray(u8)), to_display(u8))
    # uint8 output: 0.25 * 255 = 63.75 -> 64, 0.75 * 255 = 191.25 -> 191
    np.testing.assert_array_equal(to_display(t, uint8=True), [[0, 64], [191, 255]])
    base = torch.rand(1, 3, 4, 4)
    before = base.clone()
    to_display(base)[:] = 0  # a copy: the caller's tensor is never changed through the array
    assert torch.equal(base, before)


def test_to_png_decodes_to_the_rounded_pixels():
    img = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    back = np.asarray(Image.open(io.BytesIO(to_png(img))))
    np.testing.assert_array_equal(back, np.round(img[0].permute(1, 2, 0).numpy() * 255))


# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_write(target) as f:
        f.write(b"new but only ha")
        f.flush()
        assert target.read_bytes() == b"old contents"  # nothing visible before the end
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["model.bin"]  # the temporary file is gone


def test_atomic_write_replaces_creates_folders_and_honours_umask(tmp_path):
    target = tmp_path / "a" / "b" / "notes.txt"
    old = os.umask(0o027)
    try:
        with atomic_write(target, "w", encoding="utf-8") as f:
            f.write("héllo")
    finally:
        os.umask(old)
    assert target.read_text(encoding="utf-8") == "héllo"
    assert target.stat().st_mode & 0o777 == 0o640  # 0o666 & ~0o027, like any new file
    with atomic_write(target) as f:
        f.write(b"second")
    assert target.read_bytes() == b"second" and os.listdir(target.parent) == ["notes.txt"]
    with pytest.raises(ValueError, match="mode"), atomic_write(target, "ab"):
        pass


def test_atomic_write_renames_within_the_destination_folder(tmp_path, monkeypatch):
    """os.replace is atomic only within one file system: the temporary file must sit next to the target
    (a temporary file in the system's temp folder fails with EXDEV when the target is on another disk)."""
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "out" / "picture.png"
    save_image(torch.zeros(1, 3, 2, 2), target)
    with atomic_write(tmp_path / "notes.txt", "w", encoding="utf-8") as f:
        f.write("x")
    assert [dst for _, dst in calls] == [target, tmp_path / "notes.txt"]
    for src, dst in calls:
        assert src.parent == dst.parent and src.name.startswith("."), (src, dst)
