"""Gatys' normalisation and the scale-free objective (issue "Style you can see").

Expected figures come from torchvision's own VGG-19 layers run on the encoder's weights, from
autograd on losses written here by hand, and from the calibration images loaded independently.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torchvision

import nstlib
from nstlib.calibration import CALIBRATION_IMAGES, DeadFiltersWarning
from nstlib.vgg import IMAGENET_MEAN, IMAGENET_STD, LAYER_NAMES, VGG19Features
from nstlib.weights import WeightsError

from .helpers import smooth_image

CONV_INDEX = {name: i for i, name in enumerate(LAYER_NAMES) if name.startswith("conv")}  # torchvision index


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty NSTLIB_CACHE of this test's own (the tests about the cache; the others share the run's)."""
    monkeypatch.setenv("NSTLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def torchvision_features(enc: VGG19Features) -> torch.nn.Sequential:
    """torchvision's vgg19().features carrying ``enc``'s (normalised) filters, ReLUs out of place."""
    tv = torchvision.models.vgg19(weights=None).features.eval()
    for name, i in CONV_INDEX.items():
        tv[i].weight.data.copy_(getattr(enc.features, name).weight.detach().cpu())
        tv[i].bias.data.copy_(getattr(enc.features, name).bias.detach().cpu())
    for m in tv:
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
        if isinstance(m, torch.nn.MaxPool2d):
            m.ceil_mode = True  # Caffe's rounding, as the encoder pools
    return tv


def calibration_set() -> list[torch.Tensor]:
    return [nstlib.load_image(name, size=224) for name in CALIBRATION_IMAGES]


def test_every_filter_has_mean_activation_one_on_the_calibration_set():
    enc = VGG19Features(weights="random", precision="fp32", device="cpu", seed=3)
    assert enc.normalized and enc.dead_filters == [] and enc.sparse_filters == []  # so every filter is "regular"
    tv = torchvision_features(enc)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    sums = {}
    with torch.no_grad():
        for img in calibration_set():
            x = (img - mean) / std
            for i, module in enumerate(tv):
                x = module(x)
                if isinstance(module, torch.nn.ReLU):
                    sums.setdefault(i, []).append(x.mean(dim=(0, 2, 3)))  # (C,)
    assert len(sums) == 16
    for i, per_image in sums.items():
        m = torch.stack(per_image).mean(0)
        torch.testing.assert_close(m, torch.ones_like(m), rtol=2e-3, atol=2e-3, msg=f"layer {LAYER_NAMES[i]}")


def rescaled_copy(state: dict, gen: torch.Generator) -> dict:
    """The same network with each filter scaled by 10^U(-2, 2), the next conv compensating."""
    out = {k: v.clone() for k, v in state.items()}
    prev = None
    for i in CONV_INDEX.values():
        w, b = out[f"features.{i}.weight"], out[f"features.{i}.bias"]
        if prev is not None:
            w /= prev.view(1, -1, 1, 1)
        s = 10 ** (torch.rand(w.shape[0], generator=gen) * 4 - 2)  # (C_out,) in [1e-2, 1e2]
        w *= s.view(-1, 1, 1, 1)
        b *= s
        prev = s
    return out


@pytest.fixture(scope="module")
def rescaled_path(tv_state_path, tmp_path_factory):
    state = torch.load(tv_state_path, weights_only=True)
    path = tmp_path_factory.mktemp("weights") / "vgg19-rescaled.pth"
    torch.save(rescaled_copy(state, torch.Generator().manual_seed(7)), path)
    return path


def test_per_channel_rescaling_does_not_change_normalised_features(tv_state_path, rescaled_path):
    img = smooth_image(64, 64, seed=4)
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"]
    a = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu")(img, layers)
    b = VGG19Features(weights=rescaled_path, precision="fp32", device="cpu")(img, layers)
    for k in layers:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-4 * float(a[k].abs().max()))
    # ... whereas the raw networks differ by the factors (so the comparison above can fail)
    ra = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu", normalize=False)(img, ["relu5_1"])
    rb = VGG19Features(weights=rescaled_path, precision="fp32", device="cpu", normalize=False)(img, ["relu5_1"])
    assert (ra["relu5_1"] - rb["relu5_1"]).abs().max() > 0.5 * ra["relu5_1"].abs().max()


def test_per_channel_rescaling_gives_the_same_transfer(tmp_path):
    """A well-conditioned network and its rescaled copy: the same picture.

    nstlib's leaky random filters (the reconstruction ones), saved raw; with the plain ReLU filters float
    rounding alone grows to ~2 grey levels in these 40 Adam steps, with or without the rescaling.
    Average pooling, as the default transfer: with max pooling a 1e-6 relative change of the weights
    moves the picture by ~9 grey levels at 64 x 43 px (an argmax flips), so rounding alone could
    fail the comparison; with average pooling the same change moves it ~2, the rescaling 0.4."""
    raw = VGG19Features(weights="random", precision="fp32", device="cpu", normalize=False, seed=5, leak=0.4)
    state = {}
    for name, i in CONV_INDEX.items():
        state[f"features.{i}.weight"] = getattr(raw.features, name).weight.detach().clone()
        state[f"features.{i}.bias"] = getattr(raw.features, name).bias.detach().clone()
    torch.save(state, tmp_path / "a.pth")
    torch.save(rescaled_copy(state, torch.Generator().manual_seed(8)), tmp_path / "b.pth")
    # Adam: its steps are continuous in the gradients. (L-BFGS's line search makes discrete accept/reject
    # decisions, so float rounding alone sends two runs into different, equally stylised, optima.)
    kw = dict(size=64, steps=40, optimizer="adam", lr=0.01, progress=False)
    a = nstlib.transfer(
        "chelsea",
        "brush_strokes",
        encoder=VGG19Features(weights=tmp_path / "a.pth", precision="fp32", device="cpu", pooling="avg"),
        **kw,
    )
    b = nstlib.transfer(
        "chelsea",
        "brush_strokes",
        encoder=VGG19Features(weights=tmp_path / "b.pth", precision="fp32", device="cpu", pooling="avg"),
        **kw,
    )
    photo = nstlib.load_image("chelsea", size=64)
    assert (a.image - photo).abs().mean() * 255 > 10  # the transfer did something ...
    assert (a.image - b.image).abs().mean() * 255 <= 2.0  # ... and the same thing on both networks
    assert a.beta == pytest.approx(b.beta, rel=0.01)
    # without the normalisation the two networks disagree (so the comparison above can fail)
    raw_b = VGG19Features(weights=tmp_path / "b.pth", precision="fp32", device="cpu", normalize=False, pooling="avg")
    c = nstlib.transfer("chelsea", "brush_strokes", encoder=raw_b, **kw)
    assert (a.image - c.image).abs().mean() * 255 > 2.0


def test_torchvision_default_init_file_shows_style_at_the_defaults(tv_state_path):
    """An un-normalised network (like an ImageNet file) still changes the photo visibly at the defaults."""
    enc = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu")
    res = nstlib.transfer("chelsea", "brush_strokes", encoder=enc, size=96, steps=60, progress=False)
    photo = nstlib.load_image("chelsea", size=96)
    style = nstlib.load_image("brush_strokes", size=tuple(photo.shape[-2:]))
    change = (res.image - photo).abs().mean() * 255
    assert change >= 15, f"the default transfer changed the photo by only {change:.1f} grey levels"

    # the result's colour statistics (mean and covariance) move towards the style's
    def d(a, b):
        pa, pb = a[0].flatten(1), b[0].flatten(1)  # (3, H*W)
        return (pa.mean(1) - pb.mean(1)).norm() + (torch.cov(pa) - torch.cov(pb)).norm()

    assert d(res.image, style) < 0.9 * d(photo, style)


def test_strength_sets_the_ratio_of_the_gradients(encoder):
    """beta from strength s: at the reference noise, ||grad style|| = s ||grad content|| (computed here by hand)."""
    content, style = smooth_image(64, 64, seed=1), smooth_image(64, 64, seed=2)
    cl, sl = ["relu4_2"], ["relu1_1", "relu3_1"]
    P = encoder(content, cl)["relu4_2"]
    A = {k: (lambda f: f.flatten(2) @ f.flatten(2).transpose(1, 2))(v) for k, v in encoder(style, sl).items()}
    res = nstlib.synthesize(
        encoder,
        content_targets={"relu4_2": P},
        style_targets=A,
        content_image=content,
        init="content",
        strength=3.0,
        steps=1,
        seed=5,
        progress=False,
    )
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(6)).requires_grad_(True)  # seed + 1
    f = encoder(x, cl + sl)
    content_loss = 0.5 * ((f["relu4_2"] - P) ** 2).sum() * (64 * 64) / (8 * 8)  # size factor at 64 px
    style_loss = 0
    for k in sl:
        N, M = f[k].shape[1], f[k].shape[2] * f[k].shape[3]
        G = f[k].flatten(2) @ f[k].flatten(2).transpose(1, 2)
        style_loss = style_loss + 0.5 * ((G - A[k]) ** 2).sum() / (4 * N**2 * M**2)
    (gc,) = torch.autograd.grad(content_loss, x, retain_graph=True)
    (gs,) = torch.autograd.grad(style_loss, x)
    assert res.beta == pytest.approx(3.0 * float(gc.norm() / gs.norm()), rel=1e-3)
    assert res.info["strength"] == 3.0 and res.alpha == 1.0


def test_layer_balance_equalises_each_layers_pull(encoder):
    style = smooth_image(64, 64, seed=2)
    sl = ["relu1_1", "relu2_1", "relu3_1"]
    A = nstlib.style_targets(encoder, style, sl)
    res = nstlib.synthesize(
        encoder,
        style_targets=A,
        content_weight=0.0,
        style_weight=1.0,
        layer_balance=True,
        init="noise",
        size=(64, 64),
        steps=1,
        seed=5,
        progress=False,
    )
    w = res.style_layer_weights
    assert sum(w.values()) == pytest.approx(1.0)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(6)).requires_grad_(True)
    f = encoder(x, sl)
    norms = []
    for k in sl:
        N, M = f[k].shape[1], f[k].shape[2] * f[k].shape[3]
        G = f[k].flatten(2) @ f[k].flatten(2).transpose(1, 2)
        (g,) = torch.autograd.grad(w[k] * ((G - A[k]) ** 2).sum() / (4 * N**2 * M**2), x, retain_graph=True)
        norms.append(float(g.norm()))
    assert max(norms) == pytest.approx(min(norms), rel=1e-3)
    assert max(w.values()) > 2 * min(w.values())  # the raw layers did differ, so the balance did something


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "strong"])
def test_bad_strength_is_named(value):
    with pytest.raises(ValueError, match="strength = "):
        nstlib.transfer(
            smooth_image(32, 32), smooth_image(32, 32), strength=value, steps=1, progress=False, weights="random"
        )


def test_strength_and_style_weight_together_is_an_error(encoder):
    c = smooth_image(32, 32)
    with pytest.raises(ValueError, match="either strength= .* or style_weight="):
        nstlib.synthesize(
            encoder,
            content_targets=nstlib.content_targets(encoder, c, ["relu2_1"]),
            style_targets=nstlib.style_targets(encoder, c, ["relu1_1"]),
            content_image=c,
            strength=1.0,
            style_weight=5.0,
            steps=1,
            progress=False,
        )


def test_dead_filters_are_named_and_nothing_turns_nan(tv_state_path, tmp_path):
    state = torch.load(tv_state_path, weights_only=True)
    i = CONV_INDEX["conv3_1"]
    state[f"features.{i}.weight"][5] = 0.0
    state[f"features.{i}.bias"][5] = -1.0  # filter 5 of conv3_1 never fires
    path = tmp_path / "dead.pth"
    torch.save(state, path)
    with pytest.warns(DeadFiltersWarning, match=r"never activate"):
        enc = VGG19Features(weights=path, precision="fp32", device="cpu")
    with pytest.warns(DeadFiltersWarning):
        before = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu")  # untrained: some dead already
    assert "conv3_1 filter 5" not in before.dead_filters and "conv3_1 filter 5" in enc.dead_filters
    assert all(torch.isfinite(p).all() for p in enc.parameters())
    f = enc(smooth_image(48, 48), ["relu5_1"])["relu5_1"]
    assert torch.isfinite(f).all() and f.abs().sum() > 0


def test_a_whole_dead_layer_is_an_error(tv_state_path, tmp_path):
    state = torch.load(tv_state_path, weights_only=True)
    i = CONV_INDEX["conv2_1"]
    state[f"features.{i}.weight"].zero_()
    state[f"features.{i}.bias"].fill_(-1.0)
    path = tmp_path / "deadlayer.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match="every filter of conv2_1 is dead"):
        VGG19Features(weights=path, precision="fp32", device="cpu")


def test_nan_weights_are_refused(tv_state_path, tmp_path):
    state = torch.load(tv_state_path, weights_only=True)
    state["features.10.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"features.10.weight.*NaN"):
        VGG19Features(weights=path, precision="fp32", device="cpu")


def test_calibration_is_cached_per_weights(private_cache):
    first = VGG19Features(weights="random", precision="fp32", device="cpu", seed=11)
    again = VGG19Features(weights="random", precision="fp32", device="cpu", seed=11)
    assert first.calibration_seconds > 0 and again.calibration_seconds == 0.0
    for a, b in zip(first.parameters(), again.parameters()):
        torch.testing.assert_close(a, b)
    other = VGG19Features(weights="random", precision="fp32", device="cpu", seed=12)
    assert other.calibration_seconds > 0  # other filters, other cache entry
    assert len(list((private_cache / "calibration").glob("*.pt"))) == 2


def test_max_and_avg_pooling_of_one_network_each_get_their_own_means(tmp_path, private_cache):
    """The calibration cache is keyed by the pooling too: the max- and the average-pooling network of the
    same filters, calibrated into one cache folder, each have mean activation 1 on the calibration photos
    (sharing one set of means, every layer after pool1 of the second network would be off)."""
    raw = VGG19Features(weights="random", precision="fp32", device="cpu", normalize=False, seed=3)
    state = {}
    for name, i in CONV_INDEX.items():  # a file: nstlib's own random filters depend on the pooling
        state[f"features.{i}.weight"] = getattr(raw.features, name).weight.detach().clone()
        state[f"features.{i}.bias"] = getattr(raw.features, name).bias.detach().clone()
    torch.save(state, tmp_path / "w.pth")
    relus = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1"]  # up to 2 poolings (the forward stops there)
    images = calibration_set()
    for pooling in ("max", "avg"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadFiltersWarning)  # a file: its sparse filters are named
            enc = VGG19Features(weights=tmp_path / "w.pth", pooling=pooling, precision="fp32", device="cpu")
        odd = set(enc.dead_filters) | set(enc.sparse_filters)  # scaled by other rules (see filter_scales)
        with torch.no_grad():
            per_image = [enc(img, relus) for img in images]
        for name in relus:
            m = torch.stack([f[name].mean(dim=(0, 2, 3)) for f in per_image]).mean(0)  # (C,) Gatys' statistic
            regular = torch.tensor([f"conv{name[4:]} filter {k}" not in odd for k in range(m.numel())])
            assert regular.sum() > 0.5 * m.numel()
            off = float((m[regular] - 1).abs().max())
            assert off < 3e-3, f"{pooling} pooling, {name}: mean activations off 1 by up to {off:.3g}"
    assert len(list((private_cache / "calibration").glob("*.pt"))) == 2  # one entry per pooling


def test_sparse_filter_rule_by_hand():
    """A filter that fires on 0.5 % of the positions (mean / rms = sqrt(0.005) = 0.071 < SPARSE_RATIO) is
    scaled to an rms activation of 1 / SPARSE_RATIO = 10 and named; a regular one to mean activation 1."""
    from collections import OrderedDict

    from nstlib.calibration import SPARSE_RATIO, channel_stats, filter_scales, normalize_

    assert SPARSE_RATIO == 0.1
    # the rule on hand-made statistics (rows: mean, rms, pre-ReLU std): scale = 0.1 rms if mean < 0.1 rms
    scale, sparse, dead = filter_scales(torch.tensor([[0.05, 2.0, 0.0], [1.0, 2.0, 0.0], [3.0, 3.0, 0.5]]))
    torch.testing.assert_close(scale, torch.tensor([0.1, 2.0, 0.5]))
    assert sparse.tolist() == [True, False, False] and dead.tolist() == [False, False, True]

    # a one-conv network on one 100 x 100 image: filter 0 copies channel 0, which is +2 on 50 of the
    # 10,000 positions and -1 elsewhere; filter 1 copies channel 1, +1 on half the positions, -1 elsewhere
    x = -torch.ones(1, 3, 100, 100, dtype=torch.float32)
    x[0, 0].view(-1)[torch.randperm(10_000, generator=torch.Generator().manual_seed(0))[:50]] = 2.0
    x[0, 1, :50] = 1.0
    conv = torch.nn.Conv2d(3, 2, kernel_size=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = 1.0
        conv.weight[1, 1] = 1.0
        conv.bias.zero_()
    net = torch.nn.Sequential(OrderedDict(conv1_1=conv, relu1_1=torch.nn.ReLU()))
    zero, one = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)  # no ImageNet normalisation here
    stats = channel_stats(net, [x], zero, one)
    # by hand: filter 0 is 2 on 0.5 % of the positions: mean 0.01, rms 2 sqrt(0.005) = 0.1414
    torch.testing.assert_close(stats["conv1_1"][:2], torch.tensor([[0.01, 0.5], [2 * 0.005**0.5, 0.5**0.5]]))
    dead_names, sparse_names = normalize_(net, stats, warn=False)
    assert sparse_names == ["conv1_1 filter 0"] and dead_names == []
    with torch.no_grad():
        y = net(x)[0].flatten(1).double().numpy()  # (2, 10000)
    assert float(np.sqrt((y[0] ** 2).mean())) == pytest.approx(10.0, rel=1e-5)  # sparse: rms 10
    assert float(y[0].max()) == pytest.approx(2.0 / (0.1 * 2 * 0.005**0.5), rel=1e-5)  # = 141.4 where it fires
    assert float(y[1].mean()) == pytest.approx(1.0, rel=1e-5)  # regular: mean 1


def test_normalize_false_keeps_the_raw_filters(tv_state_path):
    raw = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu", normalize=False)
    state = torch.load(tv_state_path, weights_only=True)
    assert not raw.normalized
    torch.testing.assert_close(raw.features.conv4_2.weight, state[f"features.{CONV_INDEX['conv4_2']}.weight"])


def test_transfer_keeps_a_tensors_size_and_refuses_a_tiny_image(encoder):
    res = nstlib.transfer(smooth_image(48, 64), smooth_image(40, 40), encoder=encoder, steps=2, progress=False)
    assert res.image.shape == (1, 3, 48, 64)
    with pytest.raises(ValueError, match="image of 1x1 px is too small for layer relu5_1"):
        nstlib.transfer(torch.rand(1, 3, 1, 1), smooth_image(40, 40), encoder=encoder, steps=2, progress=False)


def test_size_factor_by_hand():
    from nstlib.synthesis import size_factor

    # relu4_2 sits after 3 poolings: 128 px -> 16 x 16 positions, 512 px -> 64 x 64
    assert size_factor("relu4_2", 128, 128) == (64 * 64) / (16 * 16)
    assert size_factor("relu1_1", 256, 128) == (512 * 512) / (256 * 128)
    assert size_factor("input", 1024, 1024) == 0.25
    # odd sizes round up (Caffe's pooling): 100 -> 50 -> 25 -> 13 -> 7 rows, 60 -> 30 -> 15 -> 8 -> 4 columns
    assert math.isclose(size_factor("relu5_1", 100, 60), (32 * 32) / (7 * 4))


def test_one_table_of_defaults_drives_transfer_and_cli(encoder):
    from nstlib.cli import build_parser
    from nstlib.defaults import DEFAULTS

    res = nstlib.transfer(smooth_image(48, 48), smooth_image(48, 48), encoder=encoder, steps=2, progress=False)
    assert list(res.style_layer_weights) == list(DEFAULTS.style_layers)
    assert [k.split("/")[1] for k in res.term_weights if k.startswith("content/")] == list(DEFAULTS.content_layers)
    assert res.info["strength"] == DEFAULTS.strength and res.info["line_search"] == DEFAULTS.line_search
    args = build_parser().parse_args(["transfer", "a.png", "b.png", "-o", "x.png"])
    assert args.preset == "default" and args.strength is None and args.style_weight is None  # -> DEFAULTS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paper = nstlib.transfer(
            smooth_image(48, 48), smooth_image(48, 48), encoder=encoder, preset="paper", steps=2, progress=False
        )
    assert paper.beta == 1e3 and paper.info["init"] == "noise" and paper.info["pooling"] == "avg"


def test_plug_in_losses_are_used_and_see_plain_tensors(encoder):
    """A student's gram / content / style functions replace the library's (and may call .view)."""
    calls = {"gram": 0, "content": 0}

    def my_gram(F):  # the lecture's formula with .view, which fails on channels-last maps
        calls["gram"] += 1
        B, C, H, W = F.shape
        X = F.view(B, C, H * W)
        return X @ X.transpose(1, 2)

    def my_content(F, P):
        calls["content"] += 1
        return 0.5 * ((F - P) ** 2).sum()

    c, s = smooth_image(48, 48, seed=1), smooth_image(48, 48, seed=2)
    ours = nstlib.transfer(
        c,
        s,
        encoder=encoder,
        steps=3,
        style_weight=1e4,
        layer_balance=False,
        progress=False,
        gram_fn=my_gram,
        content_loss_fn=my_content,
    )
    ref = nstlib.transfer(c, s, encoder=encoder, steps=3, style_weight=1e4, layer_balance=False, progress=False)
    assert calls["gram"] >= 5 * 4 and calls["content"] >= 3  # targets + every evaluation
    assert ours.history[0]["total"] == pytest.approx(ref.history[0]["total"], rel=1e-4)
    broken = nstlib.transfer(
        c,
        s,
        encoder=encoder,
        steps=1,
        style_weight=1e4,
        layer_balance=False,
        progress=False,
        gram_fn=lambda F: 2 * my_gram(F),
    )  # a wrong Gram changes the loss: it is really used
    assert broken.history[0]["total"] != pytest.approx(ref.history[0]["total"], rel=1e-3)


def test_an_explicit_beta_reproduces_the_strengths_transfer(encoder):
    """transfer(strength=s) reports beta; transfer(style_weight=beta) must give the same picture (notebook
    05's alpha/beta grid relies on it). The layer balance is measured without beta, so that both runs get
    w_l equal to the last bit or two: rounding differences of 1e-5 sent L-BFGS down visibly different paths."""
    kw = dict(size=48, steps=12, encoder=encoder, progress=False)
    by_strength = nstlib.transfer("chelsea", "brush_strokes", strength=1.0, **kw)
    explicit = nstlib.transfer("chelsea", "brush_strokes", style_weight=by_strength.beta, **kw)
    assert explicit.style_layer_weights == pytest.approx(by_strength.style_layer_weights, rel=1e-12)
    torch.testing.assert_close(explicit.image, by_strength.image, atol=1e-4, rtol=0)
