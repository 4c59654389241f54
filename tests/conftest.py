"""Shared fixtures: random-weight encoders (no downloads), small seeded images."""

from __future__ import annotations

import os

import pytest
import torch

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
    import torchvision

    torch.manual_seed(1234)
    model = torchvision.models.vgg19(weights=None)
    path = tmp_path_factory.mktemp("weights") / "vgg19-random.pth"
    torch.save(model.state_dict(), path)
    return path


def smooth_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A seeded smooth (1, 3, h, w) image in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, max(2, h // 8), max(2, w // 8), generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
