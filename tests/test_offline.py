"""The random-weights recipe of reconstructions: average pooling and a quiet start (issue 13),
while trained weights (here: a weights file) keep max pooling and white noise."""

from __future__ import annotations

import pytest
import torch

import nstlib

from .helpers import smooth_image, write_vgg19_weights


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    return write_vgg19_weights(tmp_path_factory.mktemp("w") / "vgg19.pth", seed=7)


def _first_image(**kwargs) -> torch.Tensor:
    seen = []
    nstlib.reconstruct_content(
        smooth_image(32, 32),
        "conv2_2",
        size=None,
        steps=1,
        progress=False,
        callback=lambda step, x, terms: seen.append(x.clone()),
        **kwargs,
    )
    return seen[0]


def test_pooling_auto_is_average_for_random_weights_only(weights_file):
    assert nstlib.get_encoder("random", pooling="auto").pooling == "avg"
    assert nstlib.get_encoder(weights_file, pooling="auto").pooling == "max"
    assert nstlib.get_encoder("random").pooling == "max"  # the default of get_encoder is unchanged


def test_init_auto_is_quiet_for_random_weights_and_white_noise_otherwise(weights_file):
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # the library's seeded noise
    quiet = _first_image(weights="random")
    torch.testing.assert_close(quiet, 0.5 + 0.1 * (noise - 0.5))  # the same noise, turned down to +- 5 %
    torch.testing.assert_close(_first_image(weights=weights_file), noise)
    torch.testing.assert_close(_first_image(weights="random", init="noise"), noise)


def test_unknown_init_is_named():
    with pytest.raises(ValueError, match="'loud'.*'quiet'"):
        _first_image(weights="random", init="loud")


def test_style_reconstruction_balances_layers_for_random_weights_only(weights_file):
    img = smooth_image(32, 32)
    layers = ["relu1_1", "relu2_1"]
    rand = nstlib.reconstruct_style(img, layers, size=None, steps=1, weights="random", progress=False)
    assert rand.style_layer_weights != {"relu1_1": 0.5, "relu2_1": 0.5}  # balanced by gradient norms
    assert sum(rand.style_layer_weights.values()) == pytest.approx(1.0)
    trained = nstlib.reconstruct_style(img, layers, size=None, steps=1, weights=weights_file, progress=False)
    assert trained.style_layer_weights == {"relu1_1": 0.5, "relu2_1": 0.5}  # the given (equal) weights, as before
