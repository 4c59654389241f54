"""nstlib.recipes: every choice of an experiment resolved in one place (issue 25 §4).

Expected values come from the defaults table (the settings a user reads in the README), from hand-worked
arithmetic and from the YIQ coefficients written out here, not from the functions under test.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from nstlib.defaults import PRESETS
from nstlib.recipes import AUTO, Controls, auto_settings, layer_weights, transfer_recipe


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_transfer_left_at_its_defaults_is_the_preset(name):
    p, r = PRESETS[name], transfer_recipe(name)
    for key in ("pooling", "init", "content_weight", "style_weight", "strength", "steps", "size", "optimizer"):
        assert getattr(r, key) == getattr(p, key), key
    assert (r.layer_balance, r.tv_weight, r.line_search, r.balance_at) == (
        p.layer_balance,
        p.tv_weight,
        p.line_search,
        p.balance_at,
    )
    assert r.content_layers == p.content_layers and r.style_layers == p.style_layers
    assert r.info() == dict(
        preset=name,
        pooling=p.pooling,
        line_search=p.line_search,
        layer_balance=p.layer_balance,
        init=p.init,
        steps=p.steps,
    )


def test_what_a_given_setting_replaces():
    r = transfer_recipe("default", style_weight=5.0)  # beta itself: no strength
    assert (r.style_weight, r.strength) == (5.0, None)
    r = transfer_recipe("default", content_weight=0)  # nothing to balance against: beta = 1
    assert (r.style_weight, r.strength) == (1.0, None)
    r = transfer_recipe("default", content_layers=[])
    assert (r.content_layers, r.strength, r.style_weight) == ({}, None, 1.0)
    assert transfer_recipe("default", optimizer="adam").line_search is None  # Adam has no line search
    assert transfer_recipe("default", line_search="none").line_search is None
    assert transfer_recipe("paper", init=torch.zeros(1, 3, 4, 4)).info()["init"] == "tensor"
    r = transfer_recipe("paper", style_layers=["relu1_1", "relu3_1", "relu5_1"], content_layers="relu3_2")
    assert r.style_layers == {"relu1_1": 1 / 3, "relu3_1": 1 / 3, "relu5_1": 1 / 3}
    assert r.content_layers == {"relu3_2": 1.0}
    assert layer_weights({"a": 2.0}, {}) == {"a": 2.0} and layer_weights(None, {"b": 1.0}) == {"b": 1.0}


def test_auto_settings_read_the_one_table_for_the_network_at_hand(monkeypatch):
    random, trained = SimpleNamespace(is_random=True), SimpleNamespace(is_random=False)
    given = dict(init="auto", line_search="auto", layer_balance=None)
    assert auto_settings("style", random, **given) == AUTO["style"]["random"]
    assert auto_settings("style", trained, **given) == AUTO["style"]["trained"]
    assert auto_settings("style", random, init="noise", line_search=None, layer_balance=False) == dict(
        init="noise", line_search=None, layer_balance=False
    )  # given values stay
    # the texture model is one of the table's rows; a change of value in AUTO is what the experiments use
    assert auto_settings("texture", random, texture_model="auto") == {"texture_model": "multiscale"}
    monkeypatch.setitem(AUTO["texture"]["random"], "texture_model", "vgg")
    assert auto_settings("texture", random, texture_model="auto") == {"texture_model": "vgg"}


def test_controls_check_their_arguments_and_say_how_to_fix_them():
    with pytest.raises(ValueError, match="preserve_color must be None, 'luminance' or 'histogram', got 'yuv'"):
        Controls(preserve_color="yuv")
    with pytest.raises(ValueError, match=r"style_scale = 0: must be a number in \(0, 16\]"):
        Controls(style_scale=0)
    with pytest.raises(ValueError, match="style_blend has 2 weights for 3 style images"):
        Controls(style_blend=[1, 2]).blend(3)
    with pytest.raises(ValueError, match="weights must be finite, >= 0 and not all 0"):
        Controls(style_blend=[0, 0]).blend(2)
    with pytest.raises(ValueError, match="smaller than the output's longer side 64"):
        Controls(coarse_to_fine=64).coarse_size((48, 64))
    with pytest.raises(ValueError, match="an integer >= 16"):
        Controls(coarse_to_fine=8).coarse_size((48, 64))


def test_controls_by_hand():
    assert Controls(style_blend=[1, 3]).blend(2) == [0.25, 0.75]
    assert Controls().blend(4) == [0.25] * 4
    assert Controls(style_scale=0.5).style_size(64) == 32
    assert Controls(style_scale=0.5).style_size((30, 51)) == (15, 26)  # round(25.5) = 26 (to even)
    assert Controls(coarse_to_fine=32).coarse_size((48, 64)) == 32 and Controls().coarse_size((48, 64)) is None
    m = Controls(mask=torch.ones(6, 8)).mask_tensor(torch.device("cpu"))
    assert m is not None and m.shape == (6, 8) and Controls().mask_tensor(torch.device("cpu")) is None


def test_luminance_preservation_keeps_the_result_luminance_and_the_photo_colour():
    """Y of the output is the optimised image's, I and Q the photo's (NTSC YIQ, written out by hand)."""
    gen = torch.Generator().manual_seed(4)
    result = 0.45 + 0.1 * torch.rand(1, 3, 5, 7, generator=gen)  # mid-grey: nothing gets clamped
    photo = 0.45 + 0.1 * torch.rand(1, 3, 5, 7, generator=gen)
    out = Controls(preserve_color="luminance").restore_colour(result, photo).double()
    r, g, b = out[0].unbind(0)
    R, G, B = result[0].double().unbind(0)
    pr, pg, pb = photo[0].double().unbind(0)
    torch.testing.assert_close(0.299 * r + 0.587 * g + 0.114 * b, 0.299 * R + 0.587 * G + 0.114 * B, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        0.595716 * r - 0.274453 * g - 0.321263 * b, 0.595716 * pr - 0.274453 * pg - 0.321263 * pb, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        0.211456 * r - 0.522591 * g + 0.311135 * b, 0.211456 * pr - 0.522591 * pg + 0.311135 * pb, atol=1e-5, rtol=0
    )
    assert Controls().restore_colour(result, photo) is result  # no colour control: the image as it is
