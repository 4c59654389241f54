"""The shared test helpers behave as the download and weights tests rely on."""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
import urllib.error
import urllib.request

import pytest
import torch

from .helpers import Route, smooth_image, vgg19_state_dict, write_vgg19_weights


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def test_state_dict_is_vgg19_features_seeded_and_leaves_the_global_rng(tmp_path):
    torch.manual_seed(0)
    expected_next = torch.rand(3)
    torch.manual_seed(0)
    a = vgg19_state_dict(5, classifier=False)
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG was not advanced
    # VGG-19 (Simonyan & Zisserman, configuration E): 16 3x3 convolutions at these indices of features
    convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    widths = [64] * 2 + [128] * 2 + [256] * 4 + [512] * 8
    shapes = {}
    for i, c_in, c_out in zip(convs, [3, *widths[:-1]], widths):
        shapes |= {f"features.{i}.weight": (c_out, c_in, 3, 3), f"features.{i}.bias": (c_out,)}
    assert {k: tuple(v.shape) for k, v in a.items()} == shapes
    assert (a["features.2.bias"] == 0).all() and 0.03 < float(a["features.2.weight"].std()) < 0.08  # He init, fan_out
    b, c = vgg19_state_dict(5, classifier=False), vgg19_state_dict(6, classifier=False)
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["features.0.weight"], c["features.0.weight"])
    path = write_vgg19_weights(tmp_path / "sub" / "w.pth", 5, classifier=False)
    assert torch.equal(torch.load(path, weights_only=True)["features.34.weight"], a["features.34.weight"])
    # the same filters as the whole model of the same seed (the classifier's random draws skipped exactly)
    whole = vgg19_state_dict(5)
    assert "classifier.6.weight" in whole and all(torch.equal(a[k], whole[k]) for k in a)
    del whole


def test_smooth_image_is_seeded_and_in_range():
    x = smooth_image(20, 30, seed=3)
    assert x.shape == (1, 3, 20, 30) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, smooth_image(20, 30, seed=3)) and not torch.equal(x, smooth_image(20, 30, seed=4))


def test_server_serves_counts_and_404s(loopback_server):
    s = loopback_server({"/a.bin": b"abc"}, default=b"any")
    assert get(s.url("/a.bin")) == b"abc" and get(s.url("x/y.pth")) == b"any"
    assert get(s.url("/a.bin")) == b"abc"
    assert s.hits == {"/a.bin": 2, "/x/y.pth": 1}
    plain = loopback_server({"/a.bin": b"abc"})
    with pytest.raises(urllib.error.HTTPError, match="404"):
        get(plain.url("/other"))


def test_server_misbehaves_on_request(loopback_server):
    body = bytes(range(200))
    s = loopback_server(
        {"/cut": Route(body, cut=True), "/bad": Route(body, corrupt=True), "/stall": Route(body, stall=30.0)}
    )
    with pytest.raises(http.client.IncompleteRead):
        get(s.url("/cut"))
    wrong = get(s.url("/bad"))
    assert len(wrong) == len(body) and hashlib.sha256(wrong).hexdigest() != Route(body).sha256
    start = time.perf_counter()
    with pytest.raises((socket.timeout, urllib.error.URLError)):
        get(s.url("/stall"), timeout=0.3)
    assert time.perf_counter() - start < 5
    start = time.perf_counter()
    s.close()  # releases the stalled handler at once, then nothing listens
    assert time.perf_counter() - start < 5
    with pytest.raises(urllib.error.URLError):
        get(s.url("/cut"), timeout=1.0)


def test_server_trickles_until_closed(loopback_server):
    s = loopback_server({"/slow": Route(b"x" * 100, trickle=0.05)})
    r = urllib.request.urlopen(s.url("/slow"), timeout=5)
    assert r.read(2) == b"xx"  # bytes arrive one by one
    s.close()
    with pytest.raises(http.client.IncompleteRead):
        r.read()
