"""nstlib.weights: where the filters come from (files, $NSTLIB_WEIGHTS, the ImageNet download, random).

Downloads go to a loopback server (tests.helpers.LoopbackServer), never to the internet.
"""

from __future__ import annotations

import hashlib
import io
import socket
import time

import pytest
import torch
import torchvision

from nstlib import VGG19Features, load_image, weights
from nstlib.weights import WeightsError

from .helpers import Route


def test_random_weights_keep_activations_alive():
    """Gatys' rescaling: every filter's mean activation is 1 on the calibration image; on a new image
    the activations at every depth stay within a sane band (they neither vanish nor explode)."""
    enc = VGG19Features(weights="random", precision="fp32", device="cpu")
    x = load_image("astronaut", size=128)
    with torch.no_grad():
        feats = enc(x, [f"relu{b}_1" for b in range(1, 6)])
    for name, f in feats.items():
        mean = f.mean().item()
        assert 0.1 < mean < 20.0, (name, mean)  # vanishing: ~0, exploding: >> 1e3


def test_random_weights_are_seeded():
    a = VGG19Features(weights="random", seed=3, precision="fp32", device="cpu")
    b = VGG19Features(weights="random", seed=3, precision="fp32", device="cpu")
    c = VGG19Features(weights="random", seed=4, precision="fp32", device="cpu")
    assert torch.equal(a.features.conv3_1.weight, b.features.conv3_1.weight)
    assert not torch.equal(a.features.conv3_1.weight, c.features.conv3_1.weight)
    assert a.weights_source == "random (seed 3)" and a.is_random


def test_weights_file_that_is_not_vgg19(tmp_path):
    bad = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(WeightsError, match="is not a VGG-19 state dict.*features.0.weight"):
        VGG19Features(weights=bad)
    vgg19_short = tmp_path / "vgg19_short.pth"  # one convolution missing: a broken VGG-19, not a VGG-16
    state = torchvision.models.vgg19().features.state_dict()
    del state["16.weight"]
    torch.save(state, vgg19_short)
    with pytest.raises(WeightsError, match="is not a VGG-19 state dict: key 'features.16.weight'"):
        VGG19Features(weights=vgg19_short)
    wrong_shape = tmp_path / "wrong_shape.pth"
    state = torchvision.models.vgg19().features.state_dict()
    state["0.weight"] = torch.zeros(64, 3, 5, 5)  # the lecture's slip: conv1_1 is 3x3, not 5x5
    torch.save(state, wrong_shape)
    with pytest.raises(WeightsError, match=r"has shape \(64, 3, 5, 5\), expected \(64, 3, 3, 3\)"):
        VGG19Features(weights=wrong_shape)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match="could not read weights file"):
        VGG19Features(weights=junk)
    with pytest.raises(WeightsError, match="does not exist"):
        VGG19Features(weights=tmp_path / "missing.pth")


def test_whole_model_features_and_bare_state_dicts_load_alike(tv_state_path, tmp_path):
    """The three shapes a VGG-19 file comes in: vgg19().state_dict() (classifier keys too: ignored; a
    small stand-in here, the real one is 470 MB), its features.* keys only, and vgg19().features'
    own keys ("0.weight", ...)."""
    features = torch.load(tv_state_path, weights_only=True)
    assert features and all(k.startswith("features.") for k in features)
    whole = {**features, "classifier.0.weight": torch.zeros(4, 2), "classifier.0.bias": torch.zeros(4)}
    torch.save(whole, tmp_path / "whole.pth")
    torch.save({k[len("features.") :]: v for k, v in features.items()}, tmp_path / "bare.pth")
    encs = [
        VGG19Features(weights=path, precision="fp32", device="cpu", normalize=False)
        for path in (tv_state_path, tmp_path / "whole.pth", tmp_path / "bare.pth")
    ]
    for enc in encs[1:]:
        for name in ("conv1_1", "conv5_4"):
            assert torch.equal(getattr(enc.features, name).weight, getattr(encs[0].features, name).weight)
    assert torch.equal(encs[0].features.conv5_4.weight, features["features.34.weight"])


def test_env_var_selects_weights(monkeypatch, tv_state_path):
    monkeypatch.setenv("NSTLIB_WEIGHTS", str(tv_state_path))
    enc = VGG19Features(precision="fp32", device="cpu")
    assert enc.weights_source == str(tv_state_path) and not enc.is_random
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random")
    assert VGG19Features(device="cpu").is_random


def test_resolve_weights_and_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NSTLIB_WEIGHTS", " random ")
    assert weights.resolve_weights("auto") == "random"
    monkeypatch.setenv("NSTLIB_WEIGHTS", str(tmp_path / "v.pth"))
    assert weights.resolve_weights("auto") == tmp_path / "v.pth"
    monkeypatch.delenv("NSTLIB_WEIGHTS")
    assert weights.resolve_weights("auto") == "auto"
    assert weights.resolve_weights("imagenet") == "imagenet"
    with pytest.raises(WeightsError, match="unknown weights 'imgnet'"):
        weights.resolve_weights("imgnet")
    with pytest.raises(WeightsError, match="got 3"):
        weights.resolve_weights(3)
    monkeypatch.setenv("NSTLIB_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="NSTLIB_DOWNLOAD_TIMEOUT must be a number of seconds, got 'soon'"):
        VGG19Features(weights="auto", device="cpu")


def test_imagenet_download_verifies_and_caches(tv_state_path, tmp_path, monkeypatch, loopback_server):
    payload = tv_state_path.read_bytes()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    server = loopback_server(default=payload)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "IMAGENET_URL", server.url(f"/vgg19-{prefix}.pth"))
    enc = VGG19Features(weights="imagenet", precision="fp32", device="cpu", normalize=False)
    assert enc.weights_source == "imagenet"
    ref = torch.load(tv_state_path, weights_only=True)["features.0.weight"]
    assert torch.equal(enc.features.conv1_1.weight, ref)
    VGG19Features(weights="imagenet", device="cpu")  # second time: from the cache
    assert sum(server.hits.values()) == 1
    # a corrupted download (hash prefix mismatch) leaves no file behind
    monkeypatch.setattr(weights, "IMAGENET_URL", server.url("/vgg19-00000000.pth"))
    with pytest.raises(WeightsError, match="sha256"):
        VGG19Features(weights="imagenet", device="cpu")
    assert not list((tmp_path / "torch" / "hub" / "checkpoints").glob("vgg19-00000000*"))


def test_auto_falls_back_to_random_quickly_when_offline(tmp_path, monkeypatch, loopback_server):
    server = loopback_server(default=Route(b"x", stall=20.0))
    monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("NSTLIB_DOWNLOAD_TIMEOUT", "0.5")
    monkeypatch.setattr(weights, "IMAGENET_URL", server.url("/vgg19-12345678.pth"))
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="RANDOM weights.*NSTLIB_WEIGHTS") as caught:
        enc = VGG19Features(weights="auto", device="cpu")
    assert enc.is_random and enc.weights_source == "random (seed 0; imagenet unavailable)"
    assert time.perf_counter() - start < 9.0  # the server stalls for 20 s: we did not wait for it
    assert [w.filename for w in caught if "RANDOM" in str(w.message)] == [__file__]  # points at the caller


# ---------------------------------------------------------------- torchvision's weights API (issue 16)


def test_imagenet_url_and_cache_file_are_torchvisions(tmp_path, monkeypatch):
    """The checkpoint comes from VGG19_Weights.IMAGENET1K_V1 and lands where its get_state_dict() caches it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    url = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
    assert weights.IMAGENET_URL == url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert weights.imagenet_url() == url
    assert weights.imagenet_cache_file() == tmp_path / "th" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    monkeypatch.setattr(weights, "IMAGENET_URL", "http://127.0.0.1:9/mirror/vgg19-0123abcd.pth")  # a mirror wins
    assert weights.imagenet_cache_file() == tmp_path / "th" / "hub" / "checkpoints" / "vgg19-0123abcd.pth"


def _small_checkpoint() -> bytes:
    """A small seeded state dict saved as torch.save writes it (stands in for the 548 MB checkpoint)."""
    gen = torch.Generator().manual_seed(16)
    buf = io.BytesIO()
    torch.save({"features.0.weight": torch.randn(64, 3, 3, 3, generator=gen)}, buf)
    return buf.getvalue()


def test_download_prints_a_progress_bar_and_caches(tmp_path, monkeypatch, capsys, loopback_server):
    payload = _small_checkpoint()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    server = loopback_server(default=payload)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setattr(weights, "IMAGENET_URL", server.url(f"/vgg19-{prefix}.pth"))
    path = weights.download_imagenet(timeout=10.0)
    err = capsys.readouterr().err
    assert path == tmp_path / "th" / "hub" / "checkpoints" / f"vgg19-{prefix}.pth"
    assert path.read_bytes() == payload
    assert "100%" in err and f"{len(payload) / 1024:.2f}k/{len(payload) / 1024:.2f}k" in err, err  # tqdm's bar
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .partial left
    assert weights.download_imagenet(timeout=10.0) == path and sum(server.hits.values()) == 1  # 2nd: the cache
    assert capsys.readouterr().err == ""


def test_download_with_a_wrong_hash_is_deleted_and_explained(tmp_path, monkeypatch, loopback_server):
    server = loopback_server(default=_small_checkpoint())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setattr(weights, "IMAGENET_URL", server.url("/vgg19-dcbb9e9d.pth"))  # the real name, other bytes
    with pytest.raises(WeightsError, match=r"sha256 does not start with dcbb9e9d .*corrupt.*deleted.*NSTLIB_WEIGHTS"):
        weights.download_imagenet(timeout=10.0)
    assert sum(server.hits.values()) == 1
    assert list((tmp_path / "th" / "hub" / "checkpoints").iterdir()) == []  # neither the file nor a .partial


def test_download_times_out_leaves_nothing_and_restores_the_socket_timeout(tmp_path, monkeypatch, loopback_server):
    server = loopback_server(default=Route(b"x", stall=20.0))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setattr(weights, "IMAGENET_URL", server.url("/vgg19-12345678.pth"))
    socket.setdefaulttimeout(None)
    try:
        start = time.perf_counter()
        with pytest.raises(OSError, match="timed out"):
            weights.download_imagenet(timeout=0.5)
        assert time.perf_counter() - start < 9.0  # the server stalls for 20 s
        assert socket.getdefaulttimeout() is None  # the process-wide timeout is put back
        assert list((tmp_path / "th" / "hub" / "checkpoints").iterdir()) == []
    finally:
        socket.setdefaulttimeout(None)
