"""nstlib.analysis and nstlib.viz: the experiments of notebooks 01-03, checked against independent computations."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import nstlib  # noqa: E402
from nstlib import analysis, viz  # noqa: E402
from nstlib.synthesis import SynthesisResult  # noqa: E402

from .helpers import smooth_image  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- notebook 01
def test_architecture_table_matches_published_vgg19(encoder):
    table = analysis.architecture_table(encoder, input_size=224)
    # Simonyan & Zisserman: 16 convolutions and 5 pools; the convolutional part of VGG-19 has
    # 20,024,384 of its 143,667,240 parameters (the rest are the three fully connected layers).
    assert [r.kind for r in table].count("conv") == 16 and [r.kind for r in table].count("maxpool") == 5
    assert table.total_parameters == 20_024_384
    assert table["conv1_1"].weight_shape == (64, 3, 3, 3) and table["conv1_1"].parameters == 64 * 27 + 64
    assert table["conv5_4"].weight_shape == (512, 512, 3, 3)
    assert table["conv1_1"].out_shape == (64, 224, 224) and table["pool5"].out_shape == (512, 7, 7)
    assert table["pool3"].parameters == 0 and table["pool3"].weight_shape is None
    assert len(analysis.architecture_table(encoder, include_relu=True)) == 37
    text = str(table)
    assert "20,024,384" in text and "conv4_2" in text and "<table>" in table._repr_html_()
    with pytest.raises(KeyError, match="conv9_1"):
        table["conv9_1"]


def test_unit_at_picks_the_field_centred_nearest():
    table = nstlib.receptive_field_table("vgg19")
    rf = table["conv3_1"]  # r = 24, S = 4, P = 10: unit i is centred on 4 i + 1.5
    assert analysis.unit_at(rf, 41.5, 1.5, (32, 32)) == (10, 0)
    assert analysis.unit_at(rf, 43.0, 1000.0, (32, 32)) == (10, 31)  # clipped to the map
    assert analysis.unit_at(table["conv1_1"], 7, 9, (20, 20)) == (7, 9)  # stride 1: the pixel itself


def _rects(fig) -> dict[str, Rectangle]:
    return {p.get_gid(): p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle) and p.get_gid()}


def test_draw_receptive_fields_boxes_have_the_published_sizes():
    img = smooth_image(224, 224)
    layers = ["conv1_1", "pool1", "conv2_1", "conv3_1", "conv4_2", "conv5_1", "pool5"]
    fig = viz.draw_receptive_fields(img, layers, point=(111.5, 111.5))
    rects = _rects(fig)
    assert list(rects) == layers
    assert [rects[k].get_width() for k in layers] == [3, 6, 10, 24, 84, 156, 268]
    assert [rects[k].get_height() for k in layers] == [3, 6, 10, 24, 84, 156, 268]
    for name in ("conv2_1", "conv3_1", "conv4_2", "conv5_1"):  # odd sizes: centred within half a stride
        r = rects[name]
        cx = r.get_x() + 0.5 + (r.get_width() - 1) / 2
        stride = nstlib.receptive_field_table("vgg19")[name].stride
        assert abs(cx - 111.5) <= stride / 2
    assert "conv4_2: 84 px" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    # pool5's 268-px field is larger than the image: the view extends into the padding.
    left, right = fig.axes[0].get_xlim()
    assert left < -0.5 and right > 223.5


def test_effective_receptive_field_plot(encoder):
    erfs = analysis.effective_receptive_fields(encoder, ["conv1_1", "conv2_1"], size=32, n_samples=1)
    assert set(erfs) == {"conv1_1", "conv2_1"} and erfs["conv2_1"].shape == (32, 32)
    # conv1_1's centre unit (16, 16) depends on the 3x3 pixels 15..17 only.
    nz = erfs["conv1_1"].nonzero()
    assert nz.min(0).values.tolist() == [15, 15] and nz.max(0).values.tolist() == [17, 17]
    fig = viz.plot_effective_receptive_fields(erfs)
    rects = _rects(fig)
    assert rects["conv1_1"].get_width() == 3 and rects["conv2_1"].get_width() == 10
    assert rects["conv2_1"].get_x() + 0.5 == 12  # top-left = i*S - P: centre unit i = 8, S = 2, P = 1 + 1 + 2*1 = 4
    assert "box 10 px" in fig.axes[1].get_title()
    with pytest.raises(ValueError):
        viz.plot_effective_receptive_fields({})


def test_plot_feature_maps_shows_each_layer_at_its_resolution(encoder):
    img = smooth_image(32, 48)
    fig = viz.plot_feature_maps(encoder, img, ["relu1_1", "relu3_1"], n_channels=3)
    axes = fig.axes
    assert len(axes) == 2 * 4
    assert axes[1].images[0].get_array().shape == (32, 48)  # relu1_1: full resolution
    assert axes[5].images[0].get_array().shape == (8, 12)  # relu3_1: after two poolings


# ----------------------------------------------------------------------------- notebook 02
def test_input_gradient_step_matches_the_analytic_gradient():
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]]).expand(1, 3, 2, 2).clone()
    w = torch.arange(12.0).view(1, 3, 2, 2)
    before = x.clone()
    new = analysis.input_gradient_step(x, lambda z: (w * z**2).sum(), lr=0.1)
    assert torch.allclose(new, x - 0.1 * 2 * w * x)  # d/dx sum w x^2 = 2 w x
    assert torch.equal(x, before) and not new.requires_grad and x.grad is None


def test_input_gradient_step_leaves_the_network_alone(encoder):
    img = smooth_image(16, 16)
    target = encoder(smooth_image(16, 16, seed=3), ["conv1_2"])["conv1_2"]
    params = [p.detach().clone() for p in encoder.parameters()]

    def loss_fn(z):
        return nstlib.content_loss(encoder(z, ["conv1_2"])["conv1_2"], target)

    x = img
    losses = []
    for _ in range(3):
        losses.append(float(loss_fn(x)))
        x = analysis.input_gradient_step(x, loss_fn, lr=1e-7)
    assert losses[2] < losses[0]
    assert all(torch.equal(p, q) for p, q in zip(params, encoder.parameters()))
    assert all(p.grad is None for p in encoder.parameters())


def _result(totals: list[float]) -> SynthesisResult:
    history = [{"step": i, "total": t, "time": 0.1 * i} for i, t in enumerate(totals)]
    return SynthesisResult(torch.zeros(1, 3, 4, 4), history, {}, int(torch.tensor(totals).argmin()))


def test_plot_reconstruction_losses_relative_running_minimum():
    fig = viz.plot_reconstruction_losses({"a": _result([10.0, 5.0, 7.0, 1.0]), "b": _result([4.0, 2.0])})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert list(lines[0].get_ydata()) == [1.0, 0.5, 0.5, 0.1]
    assert list(lines[1].get_ydata()) == [1.0, 0.5]
    raw = viz.plot_reconstruction_losses({"a": _result([10.0, 5.0, 7.0])}, relative=False, best_so_far=False)
    assert list(raw.axes[0].get_lines()[0].get_ydata()) == [10.0, 5.0, 7.0]


# ----------------------------------------------------------------------------- notebook 03
def _tiles(x: torch.Tensor, p: int) -> list[bytes]:
    B, C, H, W = x.shape
    return sorted(x[0, :, i : i + p, j : j + p].numpy().tobytes() for i in range(0, H, p) for j in range(0, W, p))


def test_shuffle_patches_moves_whole_tiles():
    img = torch.rand(1, 3, 37, 50, generator=torch.Generator().manual_seed(0))
    out = analysis.shuffle_patches(img, 8, seed=1)
    assert out.shape == (1, 3, 32, 48)  # cropped to multiples of 8
    crop = img[..., :32, :48]
    assert not torch.equal(out, crop)
    assert _tiles(out, 8) == _tiles(crop, 8)  # the same tiles, elsewhere
    assert torch.equal(out, analysis.shuffle_patches(img, 8, seed=1))
    assert not torch.equal(out, analysis.shuffle_patches(img, 8, seed=2))
    two = analysis.shuffle_patches(torch.arange(8.0).view(1, 1, 2, 4), 2)  # 2 tiles: always swapped
    assert two.tolist() == [[[[2.0, 3.0, 0.0, 1.0], [6.0, 7.0, 4.0, 5.0]]]]
    with pytest.raises(ValueError, match="two"):
        analysis.shuffle_patches(img, 32)


def test_representation_change_gram_ignores_where(encoder):
    img = smooth_image(64, 64, seed=5)
    same = analysis.representation_change(encoder, img, img.clone(), ["conv1_1"])
    assert same["conv1_1"].content == 0 and same["conv1_1"].gram == 0
    shuffled = analysis.shuffle_patches(img, 16, seed=0)
    change = analysis.representation_change(encoder, img, shuffled, ["conv1_1", "conv2_1"])
    # Oracle for conv1_1: norms computed here directly.
    fa, fb = (encoder(z, ["conv1_1"])["conv1_1"].double()[0].flatten(1) for z in (img, shuffled))  # (N, M)
    ga, gb = fa @ fa.T, fb @ fb.T
    assert change["conv1_1"].content == pytest.approx(float((fa - fb).norm() / fa.norm()), rel=1e-6)
    assert change["conv1_1"].gram == pytest.approx(float((ga - gb).norm() / ga.norm()), rel=1e-6)
    # The point of notebook 03: the Gram matrix barely moves, the features do.
    assert change["conv1_1"].gram < 0.1 < 0.5 < change["conv1_1"].content
    with pytest.raises(ValueError, match="same shape"):
        analysis.representation_change(encoder, img, shuffled[..., :32, :32], ["conv1_1"])


def test_style_terms_raw_and_normalised(encoder):
    img = smooth_image(32, 32, seed=1)
    style = smooth_image(48, 48, seed=2)
    layers = ["conv1_1", "conv2_1"]
    terms = analysis.style_terms(encoder, img, style, layers)
    targets = nstlib.style_targets(encoder, style, layers, output_size=(32, 32))
    for name in layers:
        f = encoder(img, [name])[name].double()[0].flatten(1)  # (N, M)
        N, M = f.shape
        s = encoder(style, [name])[name].double()[0].flatten(1)  # (N, M')
        A = (s @ s.T) * (M / s.shape[1])  # the style Gram rescaled to the output's M
        raw = float(((f @ f.T) - A).pow(2).sum())
        t = terms[name]
        assert (t.N, t.M) == (N, M)
        assert t.raw == pytest.approx(raw, rel=1e-5)
        assert t.normalised == pytest.approx(raw / (4 * N**2 * M**2), rel=1e-5)
        loss = nstlib.style_layer_loss(encoder(img, [name])[name], targets[name])
        assert t.normalised == pytest.approx(float(loss), rel=1e-4)
    fig = viz.plot_style_terms(terms)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([terms[k].raw for k in layers] + [terms[k].normalised for k in layers])
    assert "decades" in fig.axes[0].get_title()


def test_style_term_is_independent_of_image_size(encoder):
    """E_l's 1/M^2 removes the image size: doubling the side multiplies raw by ~16, E_l by ~1."""
    layers = ["conv2_1"]
    small = analysis.style_terms(encoder, smooth_image(32, 32, seed=1), smooth_image(32, 32, seed=2), layers)
    big_img = torch.nn.functional.interpolate(smooth_image(32, 32, seed=1), scale_factor=2, mode="bilinear")
    big_sty = torch.nn.functional.interpolate(smooth_image(32, 32, seed=2), scale_factor=2, mode="bilinear")
    big = analysis.style_terms(encoder, big_img, big_sty, layers)
    ratio_raw = big["conv2_1"].raw / small["conv2_1"].raw
    ratio_e = big["conv2_1"].normalised / small["conv2_1"].normalised
    assert 8 < ratio_raw < 32 and 0.5 < ratio_e < 2
    assert math.isclose(ratio_raw / ratio_e, 16.0, rel_tol=1e-6)  # exactly (M_big / M_small)^2


def test_plot_gram_shows_the_top_left_block():
    G = torch.arange(100.0).view(1, 10, 10)
    fig = viz.plot_gram(G, max_channels=4)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (4, 4) and shown[1, 2] == 12.0
    assert "4 of 10" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="square"):
        viz.plot_gram(torch.zeros(3, 4))


# ----------------------------------------------------------------------------- analysis helpers
def test_strongest_feature_maps_are_the_most_active_channels(encoder):
    img = smooth_image(32, 32, seed=4)
    out = analysis.strongest_feature_maps(encoder, img, ["relu2_1"], n_channels=3)
    channels, maps = out["relu2_1"]
    f = encoder(img, ["relu2_1"])["relu2_1"][0]  # (128, 16, 16)
    means = f.mean(dim=(1, 2))
    assert channels == sorted(range(f.shape[0]), key=lambda c: -float(means[c]))[:3]
    assert maps.shape == (3, 16, 16)
    for c, m in zip(channels, maps):  # each map divided by its own largest |value|
        torch.testing.assert_close(m, f[c] / f[c].abs().max())


def test_erf_centre_is_the_centre_of_mass():
    erf = torch.zeros(5, 7)
    erf[1, 2], erf[3, 6] = 1.0, 3.0  # mass 1 at (1, 2), mass 3 at (3, 6)
    erf[0, 0] = -5.0  # negative values do not count
    assert analysis.erf_centre(erf) == pytest.approx(((1 + 9) / 4, (2 + 18) / 4))


# ----------------------------------------------------------------------------- tables
def test_table_prints_aligned_text_and_html():
    from nstlib.table import Table

    class Sizes(Table):
        headers = ("name", "size")
        key = "name"
        right = frozenset({1})
        max_width = 6

        def cells(self, r):
            return [r.name, str(r.size)]

        def footer(self):
            return ["total", str(sum(r.size for r in self))]

    from types import SimpleNamespace as R

    t = Sizes([R(name="conv1_1", size=3), R(name="a<b", size=212)])
    assert str(t).splitlines() == [
        "name    size",
        "------  ----",
        "conv1…     3",
        "a<b      212",
        "------  ----",
        "total    215",
    ]
    assert repr(t) == str(t)
    assert t["a<b"].size == 212 and t[0].name == "conv1_1" and isinstance(t[:1], list)
    with pytest.raises(KeyError, match="conv9_9"):
        t["conv9_9"]
    html = t._repr_html_()
    assert html.startswith("<table><thead><tr><th>name</th><th>size</th></tr></thead>")
    assert "<td>a&lt;b</td>" in html and "<td>conv1_1</td>" in html  # escaped, not cut
    assert html.endswith("<tr><th>total</th><th>215</th></tr></tbody></table>")


def test_architecture_table_text_layout(encoder):
    table = analysis.architecture_table(encoder, input_size=32)[:0]  # a plain list slice: no table
    assert type(table) is list
    t = analysis.architecture_table(encoder, input_size=32)
    lines = str(t).splitlines()
    assert lines[0].split() == [
        "layer",
        "kind",
        "output",
        "(C,",
        "H,",
        "W)",
        "filters",
        "(N_out,",
        "N_in,",
        "k,",
        "k)",
        "parameters",
    ]
    assert set(lines[1]) == {"-", " "} and lines[-2] == lines[1]
    assert lines[-1].startswith("total") and lines[-1].endswith("20,024,384")
    assert lines[2].split()[:2] == ["conv1_1", "conv"] and lines[2].endswith("1,792")  # right-aligned
    assert len({len(line) for line in lines}) == 1  # every line as wide as the table
