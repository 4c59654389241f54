"""The README's bad-input table at the level a student meets it: one call of nstlib.transfer.

(load_image's own cases — missing path, folder, empty file, non-image bytes, truncated JPEG, ... —
are in test_image.py; the optimiser's argument checks in test_optim.py.)
"""

from __future__ import annotations

import pytest
import torch

import nstlib

from .helpers import smooth_image


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"content": torch.rand(1, 3, 1, 1), "size": None},
            r"1x1 px is too small for layer relu5_1: it needs at least 16x16 px",
        ),
        (
            {"content": smooth_image(12, 40), "size": None},
            r"12x40 px is too small for layer relu5_1: it needs at least 16x16",
        ),
        (
            {"style_layers": ["conv1_1", "conv6_1"]},
            r"unknown VGG-19 layer name\(s\) \['conv6_1'\]; valid names are: conv1_1",
        ),
        ({"content_layers": "conv4-2"}, r"unknown VGG-19 layer name\(s\) \['conv4-2'\]"),
        (
            {"style_layers": {"conv1_1": float("nan")}},
            r"style_layers\['conv1_1'\] = nan: layer weights must be finite and >= 0",
        ),
        ({"content_layers": {"conv4_2": -1}}, r"content_layers\['conv4_2'\] = -1.0"),
        ({"style_weight": -5}, r"style_weight = -5.0: must be a finite number >= 0"),
        ({"steps": 0}, r"steps = 0: the number of loss evaluations must be an integer >= 1"),
        ({"optimizer": "bfgs"}, r"unknown optimizer 'bfgs': use 'lbfgs' \(Gatys et al.\) or 'adam'"),
        ({"init": "white"}, r"unknown init 'white'"),
        ({"content": torch.rand(1, 3, 32, 32) * 255}, r"divide by 255"),
        ({"content": torch.rand(32, 32, 3)}, r"expected \(3, H, W\) or \(1, 3, H, W\)"),
    ],
)
def test_transfer_rejects_bad_input_with_a_clear_message(encoder, kwargs, message):
    args = {
        "content": smooth_image(32, 32),
        "style": smooth_image(32, 32, seed=1),
        "size": 32,
        "steps": 2,
        "encoder": encoder,
        "progress": False,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        nstlib.transfer(args.pop("content"), args.pop("style"), **args)


def test_missing_style_file_names_it(encoder, tmp_path):
    with pytest.raises(FileNotFoundError, match="starry.jpg"):
        nstlib.transfer(
            smooth_image(32, 32), tmp_path / "starry.jpg", encoder=encoder, size=32, steps=1, progress=False
        )
