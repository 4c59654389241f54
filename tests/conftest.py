"""Shared fixtures: random-weight encoders (no downloads), small seeded images, a loopback HTTP server.

The makers behind them live in :mod:`tests.helpers` (one seeded VGG-19 state dict, one server).
"""

from __future__ import annotations

import os

import pytest

from .helpers import LoopbackServer, write_vgg19_weights

os.environ.setdefault("NSTLIB_WEIGHTS", "random")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def encoder():
    """A float32 random-weight VGG19Features on the CPU (deterministic)."""
    from nstlib import VGG19Features

    return VGG19Features(weights="random", precision="fp32", device="cpu")


@pytest.fixture(scope="session")
def tv_state_path(tmp_path_factory):
    """A seeded random torchvision VGG-19 state dict saved to a file (what a classroom would share)."""
    return write_vgg19_weights(tmp_path_factory.mktemp("weights") / "vgg19-random.pth", seed=1234)


@pytest.fixture
def loopback_server():
    """``loopback_server(routes, default=...)`` starts a :class:`tests.helpers.LoopbackServer`, closed afterwards."""
    servers: list[LoopbackServer] = []

    def start(routes=None, *, default=None) -> LoopbackServer:
        servers.append(LoopbackServer(routes, default=default))
        return servers[-1]

    yield start
    for s in servers:
        s.close()
