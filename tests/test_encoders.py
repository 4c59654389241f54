"""get_encoder("auto") over a kernel's life (issue 25 §3): one download attempt, not one per pooling; the
file used as soon as it is in torch's cache, never a random fallback kept for good.

The downloads are real (nstlib.weights.fetch_state -> torch.hub against a loopback HTTP server); the
network built around the weights is a stand-in that records what it was asked for, because building and
calibrating four VGG-19s would test VGG19Features (test_vgg, test_weights) and not the cache.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from collections import OrderedDict

import pytest
import torch

import nstlib.encoders as encoders
from nstlib import weights

from .helpers import Route


class StandIn:
    """What get_encoder needs of VGG19Features: it fetches the weights exactly as VGG19Features does
    (``fetch_state(resolve_weights(weights))``) and labels them the same way."""

    built: list[tuple] = []

    def __init__(self, weights: str, pooling: str, precision: str, device, leak: float = 0.0) -> None:
        from nstlib.weights import fetch_state, resolve_weights

        state, source = fetch_state(resolve_weights(weights))
        self.is_random = state is None
        self.conv1_1 = None if state is None else state["0.weight"]  # fetch_state drops "features."
        if state is None:
            source = f"random (seed 0{f', leak {leak:g}' if leak else ''}{source[len('random') :]})"
        self.weights_source, self.pooling, self.leak = source, pooling, leak
        StandIn.built.append((weights, pooling, leak))


def checkpoint() -> bytes:
    """A small seeded state dict as torch.save writes it (stands in for the 548 MB ImageNet file)."""
    buf = io.BytesIO()
    torch.save({"features.0.weight": torch.randn(64, 3, 3, 3, generator=torch.Generator().manual_seed(3))}, buf)
    return buf.getvalue()


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path, loopback_server):
    """A kernel that has built no network yet, an empty torch cache, and a download server that stalls."""
    server = loopback_server(default=Route(b"x", stall=20.0))
    monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("NSTLIB_DOWNLOAD_TIMEOUT", "0.5")
    monkeypatch.setattr(weights, "IMAGENET_URL", server.url("/vgg19-12345678.pth"))
    monkeypatch.setattr(encoders, "_ENCODERS", OrderedDict())
    monkeypatch.setattr(encoders, "_download_failed", False)
    monkeypatch.setattr(encoders, "VGG19Features", StandIn)
    StandIn.built = []
    return server


def test_a_failed_download_is_tried_once_then_the_file_is_used_once_there(fresh_kernel):
    server = fresh_kernel
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="RANDOM weights"):
        first = encoders.get_encoder("auto", "max")
    assert first.is_random and first.weights_source == "random (seed 0; imagenet unavailable)"
    assert sum(server.hits.values()) == 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning, no second wait
        other = encoders.get_encoder("auto", "avg")
        leaky = encoders.get_encoder("auto", "auto")  # a reconstruction's network: average pooling, leaky filters
        again = encoders.get_encoder("auto", "max")
    assert sum(server.hits.values()) == 1  # one attempt for the whole kernel, not one per pooling
    assert time.perf_counter() - start < 15.0  # the server stalls for 20 s per request: nobody waited for it
    assert other.is_random and other.weights_source == "random (seed 0; imagenet unavailable)"
    assert leaky.is_random and leaky.weights_source == "random (seed 0, leak 0.4; imagenet unavailable)"
    assert (leaky.pooling, leaky.leak) == ("avg", 0.4)
    assert again is first  # kept, not rebuilt

    # the file arrives (copied in, or downloaded by another process): the next call loads it
    payload = checkpoint()
    weights.imagenet_cache_file().write_bytes(payload)  # its folder is there: torch.hub made it for the download
    trained = encoders.get_encoder("auto", "max")
    assert not trained.is_random and trained.weights_source == "imagenet"
    assert torch.equal(trained.conv1_1, torch.load(io.BytesIO(payload), weights_only=True)["features.0.weight"])
    assert encoders.get_encoder("auto", "auto") is encoders.get_encoder("auto", "avg")  # trained: no leaky variant
    assert not encoders.get_encoder("auto", "auto").is_random
    assert sum(server.hits.values()) == 1  # read from the cache, not downloaded
    assert encoders.get_encoder("auto", "max") is trained


def test_a_download_that_worked_is_not_repeated_and_not_rebuilt(fresh_kernel, monkeypatch):
    """The first call downloads; the file then sits in the cache, and the network built from it is kept."""
    payload = checkpoint()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    fresh_kernel.default = Route(payload)
    monkeypatch.setattr(weights, "IMAGENET_URL", fresh_kernel.url(f"/vgg19-{prefix}.pth"))
    enc = encoders.get_encoder("auto", "avg")
    assert not enc.is_random and enc.weights_source == "imagenet"
    assert encoders.get_encoder("auto", "avg") is enc and encoders.get_encoder("auto", "auto") is enc
    assert sum(fresh_kernel.hits.values()) == 1
    assert [b[:2] for b in StandIn.built] == [("auto", "avg")]  # built once


def test_named_weights_are_kept_per_setting_and_the_oldest_goes_first(fresh_kernel):
    a = encoders.get_encoder("random", "max")
    assert encoders.get_encoder("random", "max") is a
    for pooling, precision in [("avg", "auto"), ("max", "fp32"), ("avg", "fp32"), ("max", "bf16")]:
        encoders.get_encoder("random", pooling, precision)
    assert len(encoders._ENCODERS) == encoders.MAX_ENCODERS
    assert encoders.get_encoder("random", "max") is not a  # evicted, then built again
    assert sum(fresh_kernel.hits.values()) == 0  # named random weights never download
