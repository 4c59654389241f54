"""Tests for nstlib.data: the catalogue, procedural styles, the pin registry and the downloader.

Downloads are tested against a local HTTP server on 127.0.0.1; the real cache (~/.cache) and
the internet are never used (NSTLIB_CACHE points at a temporary folder in every test).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nstlib import data
from nstlib.data import DownloadError, ImageInfo, fetch, list_images
from nstlib.io import load_image

from .helpers import LoopbackServer, Route

PINNED = (
    "https://raw.githubusercontent.com/jcjohnson/neural-style/07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs/"
)
README = Path(__file__).resolve().parent.parent / "data" / "README.md"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NSTLIB_CACHE", str(cache))
    return cache


# --------------------------------------------------------------------------- pin registry


def test_registry_format():
    raw = json.loads(data.REGISTRY_PATH.read_text(encoding="utf-8"))["paintings"]
    names = [e["name"] for e in raw]
    assert len(names) == len(set(names)) == 5
    assert set(names) == {"starry_night", "the_scream", "shipwreck", "woman_with_hat", "tubingen"}
    for e in raw:
        assert set(e) >= {"name", "url", "sha256", "size", "title", "licence", "credit"}
        assert re.fullmatch(r"[0-9a-f]{64}", e["sha256"]), e["name"]
        assert e["url"].startswith(PINNED) and re.fullmatch(r"[\w.-]+\.jpg", e["url"][len(PINNED) :])
        assert isinstance(e["size"], int) and e["size"] > 0
        assert e["licence"].strip() and e["title"].strip() and e["credit"].strip()
        assert re.fullmatch(r"[a-z_]+", e["name"])


def test_readme_documents_every_image_and_pin():
    text = README.read_text(encoding="utf-8")
    for name in data.builtin_names():
        assert f"`{name}`" in text, name
    for e in data.paintings().values():
        assert e["sha256"] in text and e["url"] in text


# --------------------------------------------------------------------------- catalogue


def test_list_images_records():
    items = list_images()
    names = [i.name for i in items]
    assert names == data.builtin_names() and len(set(names)) == len(names)
    assert all(isinstance(i, ImageInfo) for i in items)
    assert {i.kind for i in items} == {"photo", "texture", "procedural", "painting"}
    assert all(i.licence and i.source and i.description for i in items)
    assert {"astronaut", "chelsea", "grace_hopper", "brick", "waves", "mosaic", "brush_strokes", "starry_night"} <= set(
        names
    )
    with pytest.raises(AttributeError):
        items[0].name = "x"  # frozen
    assert [i.name for i in list_images("texture")] == ["brick", "grass", "gravel"]
    with pytest.raises(ValueError, match="choose one of"):
        list_images("paintings")


def test_list_images_prints_a_table():
    items = list_images()
    text = str(items)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["name", "kind", "offline"]
    assert len(lines) == len(items) + 2  # header, rule, one row per image
    assert repr(items) == text
    assert "<table>" in items._repr_html_() and "astronaut" in items._repr_html_()


def test_skimage_licences_match_skimage_docstrings():
    import skimage.data

    for name, (fn, _, _, licence) in data.catalogue._PACKAGED.items():
        doc = inspect.getdoc(getattr(skimage.data, fn)).lower()
        key = "cc0" if "cc0" in licence.lower() else "public domain"
        assert key in licence.lower() and key in doc, name


@pytest.mark.parametrize("info", [i for i in list_images() if i.kind != "painting"], ids=lambda i: i.name)
def test_offline_builtins_load(info):
    assert info.available_offline
    t = load_image(info.name, size=32)
    assert t.dtype == torch.float32 and t.shape[:2] == (1, 3) and max(t.shape[2:]) == 32
    assert 0.0 <= t.min() and t.max() <= 1.0 and t.std() > 0.02  # a real picture, not blank


def test_unknown_name_lists_builtins():
    with pytest.raises(FileNotFoundError, match=r"'starry_nite'.*built-in.*starry_night"):
        load_image("starry_nite")


# --------------------------------------------------------------------------- procedural styles


@pytest.mark.parametrize("name", list(data.PROCEDURAL))
def test_procedural_deterministic_and_fast(name):
    fn = data.PROCEDURAL[name]
    start = time.perf_counter()
    t = fn(512, seed=0)
    elapsed = time.perf_counter() - start
    if elapsed >= 1.0:  # a busy CI machine gets one retry before we call it slow
        start = time.perf_counter()
        fn(512, seed=0)
        elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{name} took {elapsed:.2f} s for 512x512"
    assert t.dtype == torch.float32 and tuple(t.shape) == (1, 3, 512, 512)
    assert 0.0 <= t.min() and t.max() <= 1.0
    assert torch.equal(fn(64, seed=3), fn(64, seed=3))
    assert not torch.equal(fn(64, seed=3), fn(64, seed=4))
    assert tuple(fn((40, 56)).shape) == (1, 3, 40, 56)
    assert torch.equal(load_image(name, size=64), fn(64, seed=0))


@pytest.mark.parametrize("name", list(data.PROCEDURAL))
def test_procedural_has_style_statistics(name):
    x = data.PROCEDURAL[name](256)[0]  # (3, H, W)
    assert x.std(dim=(1, 2)).min() > 0.08  # contrast in every channel
    chroma = (x.max(0).values - x.min(0).values).mean()
    assert chroma > 0.1  # coloured, not gray


def test_waves_are_horizontal_and_strokes_oriented():
    w = data.waves(256)[0].mean(0)  # (H, W) luminance
    dy = (w[1:] - w[:-1]).abs().mean()
    dx = (w[:, 1:] - w[:, :-1]).abs().mean()
    assert dy > 1.4 * dx  # bands run across the image (noise gives 1.0)
    # Brush strokes are locally oriented: the structure tensor, averaged over 7x7 windows, has
    # coherence (l1 - l2) / (l1 + l2) well above that of white noise (about 0.19).
    assert _coherence(data.brush_strokes(256)[0].mean(0)) > 2 * _coherence(torch.rand(256, 256))


def _coherence(img: torch.Tensor, k: int = 7) -> float:
    gy, gx = torch.gradient(img)
    jxx, jyy, jxy = torch.nn.functional.avg_pool2d(torch.stack([gx * gx, gy * gy, gx * gy])[None], k, 1)[0]
    return ((((jxx - jyy) ** 2 + 4 * jxy**2).sqrt()) / (jxx + jyy + 1e-8)).mean().item()


# --------------------------------------------------------------------------- downloader


def _jpeg_bytes(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


BODY = _jpeg_bytes()  # what the server's good.jpg, cut.jpg and trickle.jpg hold


@pytest.fixture
def server(loopback_server) -> LoopbackServer:
    """/good.jpg, /cut.jpg (half the body), /stall.jpg (2 s), /trickle.jpg (a byte every 0.2 s); others 404."""
    return loopback_server(
        {
            "/good.jpg": BODY,
            "/cut.jpg": Route(BODY, cut=True),
            "/stall.jpg": Route(BODY, stall=2.0),  # longer than the client's timeout, but bounded
            "/trickle.jpg": Route(BODY, trickle=0.2),
        }
    )


def _entry(server: LoopbackServer, name: str, path: str) -> dict:
    """A registry entry for ``path`` on ``server``, pinned to :data:`BODY`."""
    return {
        "name": name,
        "url": server.url(path),
        "sha256": hashlib.sha256(BODY).hexdigest(),
        "size": len(BODY),
        "title": "test image",
        "licence": "CC0",
        "credit": "test",
    }


def _leftovers(cache: Path) -> list[str]:
    folder = cache / "paintings"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_downloads_verifies_and_never_refetches(server, _private_cache):
    reg = {"good": _entry(server, "good", "good.jpg")}
    path = fetch("good", registry=reg)
    assert path.parent == _private_cache / "paintings" and path.name == "good.jpg"
    assert path.read_bytes() == BODY
    assert fetch("good", registry=reg) == path
    assert server.hits == {"/good.jpg": 1}  # the second call used the verified cache
    assert _leftovers(_private_cache) == ["good.jpg"]  # no temporary files


def test_fetch_replaces_a_corrupt_cached_file(server, _private_cache):
    reg = {"good": _entry(server, "good", "good.jpg")}
    (_private_cache / "paintings").mkdir(parents=True)
    (_private_cache / "paintings" / "good.jpg").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="does not match its pinned sha256"):
        path = fetch("good", registry=reg)
    assert path.read_bytes() == BODY and server.hits == {"/good.jpg": 1}


def test_fetch_wrong_hash_deletes_and_explains(server, _private_cache):
    entry = _entry(server, "bad", "good.jpg")
    entry["sha256"] = "0" * 64
    with pytest.raises(DownloadError) as e:
        fetch("bad", registry={"bad": entry})
    msg = str(e.value)
    assert "0" * 64 in msg and hashlib.sha256(BODY).hexdigest() in msg
    assert entry["url"] in msg and "deleted" in msg and "waves" in msg
    assert _leftovers(_private_cache) == []


def test_fetch_truncated_body_leaves_no_file(server, _private_cache):
    with pytest.raises(DownloadError, match=r"cut off: got \d+ of \d+ bytes"):
        fetch("cut", registry={"cut": _entry(server, "cut", "cut.jpg")})
    assert _leftovers(_private_cache) == []


def test_fetch_404_names_url_and_status(server, _private_cache):
    entry = _entry(server, "gone", "gone.jpg")
    with pytest.raises(DownloadError, match=r"HTTP 404") as e:
        fetch("gone", registry={"gone": entry})
    assert entry["url"] in str(e.value)
    assert _leftovers(_private_cache) == []


def test_fetch_stall_times_out_quickly(server, _private_cache):
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"did not answer within timeout=0.5 s"):
        fetch("stall", timeout=0.5, registry={"stall": _entry(server, "stall", "stall.jpg")})
    assert time.perf_counter() - start < 1.8
    assert _leftovers(_private_cache) == []


def test_fetch_total_time_is_bounded(server, _private_cache, monkeypatch):
    monkeypatch.setattr(data.download, "_TOTAL_FACTOR", 2.0)  # give up after 2 x 0.5 s in all
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"took longer than 1 s"):
        fetch("slow", timeout=0.5, registry={"slow": _entry(server, "slow", "trickle.jpg")})
    assert time.perf_counter() - start < 2.5
    assert _leftovers(_private_cache) == []


def test_fetch_offline_suggests_alternatives(server, _private_cache):
    entry = _entry(server, "starry_night", "good.jpg")
    server.close()  # nothing listens on the port any more: like being offline
    with pytest.raises(DownloadError) as e:
        fetch("starry_night", timeout=1.0, registry={"starry_night": entry})
    msg = str(e.value)
    assert "Could not download the painting 'starry_night'" in msg and entry["url"] in msg
    assert "brush_strokes" in msg and "waves" in msg and "nstlib.list_images()" in msg


def test_fetch_unknown_name():
    with pytest.raises(KeyError, match="starry_night"):
        fetch("mona_lisa")


def test_load_image_fetches_painting_on_demand(server, monkeypatch, _private_cache):
    reg = {"starry_night": _entry(server, "starry_night", "good.jpg")}
    monkeypatch.setattr(data.catalogue, "paintings", lambda registry_path=None: reg)
    assert not next(i for i in list_images() if i.name == "starry_night").available_offline
    t = load_image("starry_night")
    assert tuple(t.shape) == (1, 3, 24, 32)
    assert next(i for i in list_images() if i.name == "starry_night").available_offline
    load_image("starry_night", size=16)
    assert server.hits == {"/good.jpg": 1}


# --------------------------------------------------------------------------- the download helper


def test_download_file_failure_keeps_the_old_file(server, tmp_path):
    target = tmp_path / "weights" / "model.bin"
    target.parent.mkdir()
    target.write_bytes(b"old, still good")
    with pytest.raises(DownloadError, match=r"does not match its pin.*deleted"):
        data.download.download_file(server.url("/good.jpg"), target, sha256="ab" * 32)
    with pytest.raises(DownloadError, match="cut off"):
        data.download.download_file(server.url("/cut.jpg"), target, sha256="ab" * 32)
    assert target.read_bytes() == b"old, still good"  # a failed download never touches the target
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]  # no temporary files


def test_download_file_accepts_a_hash_prefix_and_honours_the_umask(server, tmp_path):
    digest = hashlib.sha256(BODY).hexdigest()
    old = os.umask(0o022)
    try:
        path = data.download.download_file(server.url("/good.jpg"), tmp_path / "x.jpg", sha256=digest[:8])
    finally:
        os.umask(old)
    assert path.read_bytes() == BODY
    assert path.stat().st_mode & 0o777 == 0o644  # like any new file, not mkstemp's 0o600
    assert data.download.verified(path, digest, len(BODY))
    assert not data.download.verified(path, digest, len(BODY) + 1)
    assert not data.download.verified(path, ("1" if digest[0] == "0" else "0") + digest[1:])
