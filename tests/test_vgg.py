"""VGG19Features against torchvision's vgg19().features applied step by step."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
import warnings

import pytest
import torch
import torchvision

import nstlib.vgg as vgg
from nstlib import LAYER_NAMES, VGG19Features
from nstlib.losses import style_layer_loss
from nstlib.vgg import WeightsError, vgg_layer_names

from .conftest import smooth_image


def torchvision_steps(model: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Apply torchvision's layers one at a time on the normalised image; output after each layer."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h, outs = (x - mean) / std, []
    for layer in model:
        if isinstance(layer, torch.nn.ReLU):
            h = torch.relu(h)  # out of place: keep the stored conv output intact
        else:
            h = layer(h)
        outs.append(h)
    return outs


def test_layer_names_follow_gatys():
    assert len(LAYER_NAMES) == len(torchvision.models.vgg19().features) == 37
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-3:] == ("conv5_4", "relu5_4", "pool5")
    kinds = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
    for name, layer in zip(LAYER_NAMES, torchvision.models.vgg19().features):
        assert isinstance(layer, kinds[name[:4]]), name
    assert len(vgg_layer_names("vgg16")) == len(torchvision.models.vgg16().features)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_every_layer_matches_torchvision(tv_state_path, pooling):
    model = torchvision.models.vgg19()
    model.load_state_dict(torch.load(tv_state_path, weights_only=True))
    feats = model.features.eval()
    if pooling == "avg":
        for i, layer in enumerate(feats):
            if isinstance(layer, torch.nn.MaxPool2d):
                feats[i] = torch.nn.AvgPool2d(2, 2)
    enc = VGG19Features(weights=tv_state_path, pooling=pooling, precision="fp32", device="cpu", normalize=False)
    x = smooth_image(64, 48)
    with torch.no_grad():
        expected = torchvision_steps(feats, x)
        got = enc(x, list(LAYER_NAMES))
    for name, ref in zip(LAYER_NAMES, expected):
        assert got[name].shape == ref.shape, name
        torch.testing.assert_close(got[name], ref, rtol=1e-4, atol=1e-4, msg=name)
    assert got["conv1_1"].min() < 0 <= got["relu1_1"].min()  # convX_Y is taken before its ReLU


def test_forward_is_truncated_after_deepest_layer(encoder):
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: calls.append(n)) for n, m in encoder.features.named_children()]
    try:
        out = encoder(smooth_image(32, 32), ["relu2_1", "conv1_2"])
    finally:
        for h in hooks:
            h.remove()
    assert list(out) == ["relu2_1", "conv1_2"]
    assert calls[-1] == "conv2_1" and "conv2_2" not in calls  # relu is applied functionally


def test_frozen_and_eval(encoder):
    assert not encoder.training
    assert all(not p.requires_grad for p in encoder.parameters())


def test_requested_conv_output_survives_later_relu(encoder):
    x = smooth_image(32, 32)
    both = encoder(x, ["conv1_1", "relu1_1"])
    torch.testing.assert_close(torch.relu(both["conv1_1"]), both["relu1_1"])
    assert (both["conv1_1"] < 0).any()


def test_random_weights_keep_activations_alive():
    """Gatys' rescaling: every filter's mean activation is 1 on the calibration image; on a new image
    the activations at every depth stay within a sane band (they neither vanish nor explode)."""
    from nstlib import load_image

    enc = VGG19Features(weights="random", precision="fp32", device="cpu")
    x = load_image("astronaut", size=128)
    with torch.no_grad():
        feats = enc(x, [f"relu{b}_1" for b in range(1, 6)])
    for name, f in feats.items():
        mean = f.mean().item()
        assert 0.1 < mean < 20.0, (name, mean)  # vanishing: ~0, exploding: >> 1e3


def test_random_weights_are_seeded():
    a = VGG19Features(weights="random", seed=3, precision="fp32", device="cpu")
    b = VGG19Features(weights="random", seed=3, precision="fp32", device="cpu")
    c = VGG19Features(weights="random", seed=4, precision="fp32", device="cpu")
    assert torch.equal(a.features.conv3_1.weight, b.features.conv3_1.weight)
    assert not torch.equal(a.features.conv3_1.weight, c.features.conv3_1.weight)


def test_bf16_precision_returns_float32_close_to_fp32(tv_state_path):
    x = smooth_image(64, 64)
    fp32 = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu")
    bf16 = VGG19Features(weights=tv_state_path, precision="bf16", device="cpu")
    a, b = fp32(x, ["conv4_2"])["conv4_2"], bf16(x, ["conv4_2"])["conv4_2"]
    assert b.dtype == torch.float32
    assert ((a - b).norm() / a.norm()).item() < 0.05


def _cpuinfo_flags() -> set[str] | None:
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    return set(line.split(":", 1)[1].split()) if line else None


def test_native_bf16_matches_the_cpu_flags():
    """bf16 counts as native only with AMX or AVX512-BF16 (read from the kernel, not from torch)."""
    flags = _cpuinfo_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags on this system")
    expected = bool({"amx_bf16", "avx512_bf16"} & flags)
    assert vgg.native_bf16("cpu") is expected
    assert vgg.native_bf16("meta") is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_native(monkeypatch, native):
    """'auto' never picks emulated bf16 (4-5x slower than fp32 on AVX-512 without BF16)."""
    monkeypatch.setattr(vgg, "native_bf16", lambda device: native)
    enc = VGG19Features(weights="random", precision="auto", device="cpu")
    assert enc.precision == ("bf16" if native else "fp32")
    assert VGG19Features(weights="random", precision="fp32", device="cpu").precision == "fp32"


@pytest.mark.parametrize("layer", ["conv3_1", "conv5_1"])
def test_bf16_mode_keeps_features_exact_and_the_style_gradient_within_2_percent(tv_state_path, layer):
    """bf16 mode: forward in float32 (features bit-identical), backward convolutions in bf16.

    Oracle: torchvision's layers in float64 with the style loss written out by hand.
    """
    model = torchvision.models.vgg19()
    model.load_state_dict(torch.load(tv_state_path, weights_only=True))
    feats64 = model.features.eval().double()
    idx = LAYER_NAMES.index(layer)
    x, style = smooth_image(64, 64, seed=1), smooth_image(64, 64, seed=2)

    def style_loss64(img: torch.Tensor, A: torch.Tensor | None = None):
        Fm = torchvision_steps(feats64[: idx + 1], img.double())[idx]  # (1, N, H, W)
        N, M = Fm.shape[1], Fm.shape[2] * Fm.shape[3]
        Fm = Fm.reshape(N, M)
        G = Fm @ Fm.T  # (N, N)
        return G if A is None else ((G - A) ** 2).sum() / (4 * N**2 * M**2)

    with torch.no_grad():
        A = style_loss64(style)
    xr = x.clone().double().requires_grad_(True)
    style_loss64(xr, A).backward()
    expected = xr.grad.float()

    grads, feats = {}, {}
    for precision in ("fp32", "bf16"):
        enc = VGG19Features(weights=tv_state_path, precision=precision, device="cpu", normalize=False)
        xi = x.clone().requires_grad_(True)
        f = enc(xi, [layer])[layer]
        feats[precision] = f.detach()
        style_layer_loss(f, A.float()[None]).backward()
        grads[precision] = xi.grad
    assert torch.equal(feats["bf16"], feats["fp32"])  # the forward pass is float32 in both modes
    rel = {p: ((g - expected).norm() / expected.norm()).item() for p, g in grads.items()}
    assert rel["fp32"] < 1e-4, rel
    assert 0 < rel["bf16"] < 0.02, rel  # > 0: the backward really ran in bf16


def test_unknown_layer_lists_valid_names(encoder):
    with pytest.raises(ValueError, match=r"\['conv6_1'\]; valid names are: conv1_1, relu1_1"):
        encoder(smooth_image(32, 32), ["conv4_2", "conv6_1"])


def test_image_too_small_names_minimum(encoder):
    with pytest.raises(ValueError, match="needs at least 16x16"):
        encoder(torch.rand(1, 3, 8, 8), ["conv5_1"])
    with pytest.raises(ValueError, match="needs at least 32x32"):
        encoder(torch.rand(1, 3, 1, 1), ["pool5"])


def test_weights_file_that_is_not_vgg19(tmp_path):
    bad = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(WeightsError, match="is not a VGG-19 state dict.*features.0.weight"):
        VGG19Features(weights=bad)
    vgg16 = tmp_path / "vgg16.pth"
    torch.save(torchvision.models.vgg16().features.state_dict(), vgg16)
    with pytest.raises(WeightsError, match="is not a VGG-19 state dict: key 'features.16.weight'"):
        VGG19Features(weights=vgg16)
    wrong_shape = tmp_path / "wrong_shape.pth"
    state = torchvision.models.vgg19().features.state_dict()
    state["0.weight"] = torch.zeros(64, 3, 5, 5)  # the lecture's slip: conv1_1 is 3x3, not 5x5
    torch.save(state, wrong_shape)
    with pytest.raises(WeightsError, match=r"has shape \(64, 3, 5, 5\), expected \(64, 3, 3, 3\)"):
        VGG19Features(weights=wrong_shape)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match="could not read weights file"):
        VGG19Features(weights=junk)
    with pytest.raises(WeightsError, match="does not exist"):
        VGG19Features(weights=tmp_path / "missing.pth")


def test_features_only_state_dict_loads(tv_state_path, tmp_path):
    full = torch.load(tv_state_path, weights_only=True)
    only = {k[len("features."):]: v for k, v in full.items() if k.startswith("features.")}
    torch.save(only, tmp_path / "features.pth")
    a = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu")
    b = VGG19Features(weights=tmp_path / "features.pth", precision="fp32", device="cpu")
    assert torch.equal(a.features.conv5_4.weight, b.features.conv5_4.weight)


def test_env_var_selects_weights(monkeypatch, tv_state_path):
    monkeypatch.setenv("NSTLIB_WEIGHTS", str(tv_state_path))
    enc = VGG19Features(precision="fp32", device="cpu")
    assert enc.weights_source == str(tv_state_path) and not enc.is_random
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random")
    assert VGG19Features(device="cpu").is_random


class _Server:
    """A local HTTP server on 127.0.0.1 serving one payload (or stalling)."""

    def __init__(self, payload: bytes, stall: float = 0.0):
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.hits += 1
                if stall:
                    time.sleep(stall)
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_imagenet_download_verifies_and_caches(tv_state_path, tmp_path, monkeypatch):
    payload = tv_state_path.read_bytes()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    server = _Server(payload)
    try:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        monkeypatch.setattr(vgg, "IMAGENET_URL", f"{server.url}/vgg19-{prefix}.pth")
        enc = VGG19Features(weights="imagenet", precision="fp32", device="cpu", normalize=False)
        assert enc.weights_source == "imagenet"
        ref = torch.load(tv_state_path, weights_only=True)["features.0.weight"]
        assert torch.equal(enc.features.conv1_1.weight, ref)
        VGG19Features(weights="imagenet", device="cpu")  # second time: from the cache
        assert server.hits == 1
        # a corrupted download (hash prefix mismatch) leaves no file behind
        monkeypatch.setattr(vgg, "IMAGENET_URL", f"{server.url}/vgg19-00000000.pth")
        with pytest.raises(WeightsError, match="sha256"):
            VGG19Features(weights="imagenet", device="cpu")
        assert not list((tmp_path / "torch" / "hub" / "checkpoints").glob("vgg19-00000000*"))
    finally:
        server.close()


def test_auto_falls_back_to_random_quickly_when_offline(tmp_path, monkeypatch):
    server = _Server(b"x", stall=20.0)
    try:
        monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        monkeypatch.setenv("NSTLIB_DOWNLOAD_TIMEOUT", "0.5")
        monkeypatch.setattr(vgg, "IMAGENET_URL", f"{server.url}/vgg19-12345678.pth")
        start = time.perf_counter()
        with pytest.warns(UserWarning, match="RANDOM weights.*NSTLIB_WEIGHTS"):
            enc = VGG19Features(weights="auto", device="cpu")
        assert enc.is_random
        assert time.perf_counter() - start < 9.0  # the server stalls for 20 s: we did not wait for it
    finally:
        server.close()


# ---------------------------------------------------------------- torchvision's weights API (issue 16)


def test_imagenet_url_and_cache_file_are_torchvisions(tmp_path, monkeypatch):
    """The checkpoint comes from VGG19_Weights.IMAGENET1K_V1 and lands where its get_state_dict() caches it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    url = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
    assert vgg.IMAGENET_URL == url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert vgg._imagenet_url() == url
    assert vgg._imagenet_cache_file() == tmp_path / "th" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    monkeypatch.setattr(vgg, "IMAGENET_URL", "http://127.0.0.1:9/mirror/vgg19-0123abcd.pth")  # a mirror wins
    assert vgg._imagenet_cache_file() == tmp_path / "th" / "hub" / "checkpoints" / "vgg19-0123abcd.pth"


def _small_checkpoint() -> bytes:
    """A small seeded state dict saved as torch.save writes it (stands in for the 548 MB checkpoint)."""
    import io

    gen = torch.Generator().manual_seed(16)
    buf = io.BytesIO()
    torch.save({"features.0.weight": torch.randn(64, 3, 3, 3, generator=gen)}, buf)
    return buf.getvalue()


def test_download_prints_a_progress_bar_and_caches(tmp_path, monkeypatch, capsys):
    payload = _small_checkpoint()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    server = _Server(payload)
    try:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
        monkeypatch.setattr(vgg, "IMAGENET_URL", f"{server.url}/vgg19-{prefix}.pth")
        path = vgg._download_imagenet(timeout=10.0)
        err = capsys.readouterr().err
        assert path == tmp_path / "th" / "hub" / "checkpoints" / f"vgg19-{prefix}.pth"
        assert path.read_bytes() == payload
        assert "100%" in err and f"{len(payload) / 1024:.2f}k/{len(payload) / 1024:.2f}k" in err, err  # tqdm's bar
        assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .partial left
        assert vgg._download_imagenet(timeout=10.0) == path and server.hits == 1  # second time: the cache
        assert capsys.readouterr().err == ""
    finally:
        server.close()


def test_download_with_a_wrong_hash_is_deleted_and_explained(tmp_path, monkeypatch):
    server = _Server(_small_checkpoint())
    try:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
        monkeypatch.setattr(vgg, "IMAGENET_URL", f"{server.url}/vgg19-dcbb9e9d.pth")  # the real name, other bytes
        with pytest.raises(WeightsError, match=r"sha256 does not start with dcbb9e9d .*corrupt.*deleted.*NSTLIB_WEIGHTS"):
            vgg._download_imagenet(timeout=10.0)
        assert server.hits == 1
        assert list((tmp_path / "th" / "hub" / "checkpoints").iterdir()) == []  # neither the file nor a .partial
    finally:
        server.close()


def test_download_times_out_leaves_nothing_and_restores_the_socket_timeout(tmp_path, monkeypatch):
    import socket

    server = _Server(b"x", stall=20.0)
    try:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
        monkeypatch.setattr(vgg, "IMAGENET_URL", f"{server.url}/vgg19-12345678.pth")
        socket.setdefaulttimeout(None)
        start = time.perf_counter()
        with pytest.raises(OSError, match="timed out"):
            vgg._download_imagenet(timeout=0.5)
        assert time.perf_counter() - start < 9.0  # the server stalls for 20 s
        assert socket.getdefaulttimeout() is None  # the process-wide timeout is put back
        assert list((tmp_path / "th" / "hub" / "checkpoints").iterdir()) == []
    finally:
        socket.setdefaulttimeout(None)
        server.close()
