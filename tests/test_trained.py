"""The trained path: the settings chosen for trained weights (issue 21), and what they do.

Two kinds of tests:

- the *choices* (pooling, start, line search, texture layers) need only a network that is not
  random: a torchvision-layout file of any filters is one (``tv_state_path``);
- the *pictures* (marked ``trained``) need trained filters: ``$NSTLIB_TRAINED_WEIGHTS`` (CI sets it
  to ``python -m nstlib weights --offline-vgg16``'s file) or that file in nstlib's cache; skipped
  without. Their figures come from scikit-image (SSIM) and numpy, not from nstlib.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import nstlib
from nstlib.defaults import TEXTURE_LAYERS


@pytest.fixture(scope="module")
def trained_weights() -> str:
    path = os.environ.get("NSTLIB_TRAINED_WEIGHTS")
    if not path:
        from nstlib.offline_vgg16 import cached_weights_path

        cached = cached_weights_path()
        path = str(cached) if cached.is_file() else ""
    if not path or not Path(path).is_file():
        pytest.skip(
            "no trained weights: run `python -m nstlib weights --offline-vgg16` (or set NSTLIB_TRAINED_WEIGHTS)"
        )
    return path


def _np(img: torch.Tensor) -> np.ndarray:
    return img[0].permute(1, 2, 0).clamp(0, 1).double().numpy()


def _ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_np(a), _np(b), channel_axis=2, data_range=1.0))


# ------------------------------------------------------------------ the choices (any non-random file)
def test_synthesis_uses_average_pooling_for_trained_weights_too(tv_state_path):
    """Gatys et al. (2015, 2016) replace max by average pooling for all image synthesis."""
    enc = nstlib.get_encoder(str(tv_state_path), pooling="auto")
    assert not enc.is_random and enc.pooling == "avg"
    assert "leak" not in enc.weights_source  # the leaky filters are for random weights only
    rnd = nstlib.get_encoder("random", pooling="auto")
    assert rnd.is_random and rnd.pooling == "avg" and "leak 0.4" in rnd.weights_source


def test_trained_reconstructions_start_quiet_and_search_the_line(tv_state_path):
    enc = nstlib.get_encoder(str(tv_state_path), pooling="auto")
    c = nstlib.reconstruct_content("chelsea", "relu2_2", size=32, steps=2, encoder=enc, progress=False)
    assert (c.info["init"], c.info["line_search"], c.info["pooling"]) == ("quiet", "strong_wolfe", "avg")
    s = nstlib.reconstruct_style("brick", ["relu1_1"], size=32, steps=2, encoder=enc, progress=False)
    assert (s.info["init"], s.info["line_search"], s.info["layer_balance"]) == ("quiet", "strong_wolfe", True)
    t = nstlib.synthesize_texture("brick", size=32, steps=2, encoder=enc, progress=False)
    assert (t.info["init"], t.info["line_search"], t.info["texture_model"]) == ("quiet", "strong_wolfe", "vgg")
    assert t.info["layer_balance"]  # Gatys' equal w_l left the colours 31-39 grey levels off (docs/trained.md)
    equal = nstlib.synthesize_texture("brick", size=32, steps=2, encoder=enc, layer_balance=False, progress=False)
    assert not equal.info["layer_balance"] and len(set(equal.style_layer_weights.values())) == 1
    assert set(t.style_layer_weights) == set(TEXTURE_LAYERS)
    # the paper's white noise and fixed step are still one argument away
    n = nstlib.reconstruct_content("chelsea", "relu2_2", size=32, steps=2, encoder=enc, init="noise",
                                   line_search=None, progress=False)  # fmt: skip
    assert (n.info["init"], n.info["line_search"]) == ("noise", None)


def test_random_weights_keep_their_measured_settings():
    enc = nstlib.get_encoder("random", pooling="auto")
    c = nstlib.reconstruct_content("chelsea", "relu2_2", size=32, steps=2, encoder=enc, progress=False)
    assert (c.info["init"], c.info["line_search"]) == ("quiet", None)
    t = nstlib.synthesize_texture("brick", size=32, steps=2, model="vgg", encoder=enc, progress=False)
    assert (t.info["init"], t.info["line_search"], t.info["layer_balance"]) == ("noise", None, False)


def test_texture_layers_are_rectified_like_gatys_code():
    """conv1_1 before its ReLU is nearly blind to negating the (normalised) image: colours invert."""
    assert TEXTURE_LAYERS[0] == "relu1_1" and TEXTURE_LAYERS[1:] == ("pool1", "pool2", "pool3", "pool4")


# ------------------------------------------------------------------ the pictures (trained filters)
@pytest.mark.trained
def test_trained_content_reconstructions_show_the_photo(trained_weights):
    """Gatys et al. 2016, Fig. 1 (top): relu2_2 and relu3_2 give back the photo, relu4_2 its layout.

    64 px, 150 evaluations; with the paper's white noise and the fixed step the starting noise stays
    (the 'before' rows of docs/trained.md), which the second assertion checks is still so.
    """
    img = nstlib.load_image("astronaut", size=64)
    enc = nstlib.get_encoder(trained_weights, pooling="auto")
    got = {
        layer: _ssim(
            nstlib.reconstruct_content(img, layer, size=None, steps=150, encoder=enc, progress=False).image, img
        )
        for layer in ("relu2_2", "relu3_2")
    }
    assert got["relu2_2"] >= 0.7 and got["relu3_2"] >= 0.5, got
    noisy = nstlib.reconstruct_content(img, "relu3_2", size=None, steps=150, encoder=enc, init="noise",
                                       line_search=None, progress=False)  # fmt: skip
    assert _ssim(noisy.image, img) < got["relu3_2"] - 0.1


@pytest.mark.trained
def test_a_trained_network_is_not_reported_as_damaged(trained_weights):
    """1-2 dead filters and sparse ones in conv5_3 are normal for a trained VGG: no DeadFiltersWarning."""
    import warnings

    from nstlib.calibration import DeadFiltersWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadFiltersWarning)
        enc = nstlib.VGG19Features(trained_weights, pooling="avg", device="cpu")
    assert len(enc.dead_filters) <= 4 and enc.sparse_filters  # still counted and listed on the encoder


def test_gallery_renders_a_figure_titled_with_its_network(tmp_path, vgg16_file):
    """`python -m nstlib gallery`: one PNG per figure, its title naming the network that made it."""
    from nstlib import gallery
    from nstlib.cli import main

    assert gallery.network_label(vgg16_file).startswith("VGG-16 (trained: ")
    assert gallery.network_label("random").startswith("VGG-19 (random: ")
    assert main(["gallery", "--weights", str(vgg16_file), "-o", str(tmp_path), "--only", "transfer",
                 "--size", "32", "--steps", "2"]) == 0  # fmt: skip
    from PIL import Image

    with Image.open(tmp_path / "transfer.png") as im:
        assert im.size[0] > 100 and im.size[1] > 100
    with pytest.raises(ValueError, match="unknown figure"):
        gallery.render("random", tmp_path, ["mona_lisa"])
