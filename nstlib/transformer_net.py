"""Johnson et al.'s image transformation network: build it, count it, run it, save and load it.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016, https://arxiv.org/abs/1603.08155 (the architecture: 9x9 conv, two stride-2 convs,
residual blocks, two upsample + conv, 9x9 conv). Ulyanov, Vedaldi & Lempitsky, "Instance
Normalization: The Missing Ingredient for Fast Stylization", 2016, https://arxiv.org/abs/1607.08022
(instance norm after each hidden conv instead of batch norm).

- :class:`TransformerNet`, :class:`ResidualBlock`: the network; ``base`` channels and ``blocks`` as parameters.
- :func:`parameter_count`, :func:`receptive_field`: its size and its receptive field in pixels.
- :func:`stylize`: one forward pass on any image size (reflection-padded to a multiple of 4).
- :func:`save_model`, :func:`load_model`, :func:`shipped_model`: float16 files and the shipped models.

Training it (the perceptual losses, the crops, the time budget) is :mod:`nstlib.feedforward`, which
re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data.download import verified
from .io import load_image

__all__ = [
    "TransformerNet",
    "ResidualBlock",
    "parameter_count",
    "receptive_field",
    "stylize",
    "save_model",
    "load_model",
    "shipped_model",
    "MODELS_REGISTRY",
]


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    """Reflection-padded convolution: keeps the size (stride 1) or halves it (stride 2)."""
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(c_in, c_out, k, stride))


class ResidualBlock(nn.Module):
    """x + IN(conv(relu(IN(conv(x))))): two 3x3 convolutions, the same size and channels (Johnson et al.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            _conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # (B, C, H, W)


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network, with instance norm (Ulyanov et al. 2016).

    Args:
        base: channels of the first layer (Johnson: 32); the downsampled layers have 2x and 4x.
        blocks: residual blocks at 1/4 resolution (Johnson: 5).

    ``forward(x)``: (B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [0, 1] (a sigmoid at the end). H and W
    should be multiples of 4 (two stride-2 convolutions, two 2x upsamplings); :func:`stylize` pads.
    """

    def __init__(self, base: int = 16, blocks: int = 5) -> None:
        super().__init__()
        if not (isinstance(base, int) and base >= 1 and isinstance(blocks, int) and blocks >= 0):
            raise ValueError(f"base = {base!r}, blocks = {blocks!r}: need an int base >= 1 and an int blocks >= 0")
        self.base, self.blocks = base, blocks
        c1, c2, c3 = base, 2 * base, 4 * base
        layers: list[nn.Module] = [
            _conv(3, c1, 9), nn.InstanceNorm2d(c1, affine=True), nn.ReLU(),  # (B, c1, H, W)
            _conv(c1, c2, 3, 2), nn.InstanceNorm2d(c2, affine=True), nn.ReLU(),  # (B, c2, H/2, W/2)
            _conv(c2, c3, 3, 2), nn.InstanceNorm2d(c3, affine=True), nn.ReLU(),  # (B, c3, H/4, W/4)
            *[ResidualBlock(c3) for _ in range(blocks)],
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c3, c2, 3),
            nn.InstanceNorm2d(c2, affine=True), nn.ReLU(),  # (B, c2, H/2, W/2)
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c2, c1, 3),
            nn.InstanceNorm2d(c1, affine=True), nn.ReLU(),  # (B, c1, H, W)
            _conv(c1, 3, 9),  # (B, 3, H, W)
        ]  # fmt: skip
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.net(x))  # (B, 3, H, W) in (0, 1)

    def extra_repr(self) -> str:
        return f"base={self.base}, blocks={self.blocks}, parameters={parameter_count(self):,}"


def parameter_count(model: nn.Module) -> int:
    """Learnable parameters (weights, biases, instance norm's scale and shift)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def receptive_field(model: nn.Module) -> int:
    """Receptive field (pixels, one side) of one output pixel, the largest over output positions.

    Walks one output pixel's input interval back through the layers (as notebook 01's reference
    does): a k x k convolution with stride s and padding p maps outputs [a, b] to inputs
    [a s - p, b s - p + k - 1]; a 2x nearest upsampling maps [a, b] to [a // 2, b // 2]. Residual
    blocks count with their two convolutions (the skip path is narrower). Through the upsamplings the
    field depends on the pixel's position modulo 4 (the recurrence r += (k - 1) j with a jump j of 1/2
    gives the average, 2 px less); the largest is returned. Instance norm is left out: its mean and
    standard deviation are taken over the whole map, so through them every output depends a little
    on every input pixel.
    """
    ops: list[tuple[int, int, int]] = []  # (kernel, stride, padding); kernel 0 = 2x upsampling
    pad = 0
    for m in model.modules():
        if isinstance(m, nn.ReflectionPad2d):
            pad = int(m.padding[0])
        elif isinstance(m, nn.Conv2d):
            ops.append((m.kernel_size[0], m.stride[0], pad + int(m.padding[0])))
            pad = 0
        elif isinstance(m, nn.Upsample):
            ops.append((0, 2, 0))
    widest = 1
    for q in range(1024, 1024 + 16):  # far from the borders; every phase modulo 16
        a, b = q, q
        for k, s, p in reversed(ops):
            a, b = (a // 2, b // 2) if k == 0 else (a * s - p, b * s - p + k - 1)
        widest = max(widest, b - a + 1)
    return widest


@torch.no_grad()
def stylize(model: nn.Module, image: Any, size: int | None = None) -> Tensor:
    """One forward pass: the stylised image (1, 3, H, W) in [0, 1], on the CPU.

    ``image``: anything :func:`nstlib.load_image` takes (``size``: its longer side). The image is
    reflection-padded to a multiple of 4 and the output cropped back, so any size works.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"stylize() needs the network (an nn.Module such as TransformerNet) first, got {type(model).__name__}"
        )
    x = load_image(image, size=size) if size is not None or not isinstance(image, Tensor) else load_image(image)
    device = next(model.parameters()).device
    H, W = x.shape[-2:]
    ph, pw = (-H) % 4, (-W) % 4
    x = F.pad(x.to(device), (0, pw, 0, ph), mode="reflect") if ph or pw else x.to(device)
    was_training = model.training
    model.eval()
    out = model(x)[..., :H, :W]  # (1, 3, H, W)
    model.train(was_training)
    return out.clamp(0.0, 1.0).cpu()


def save_model(model: TransformerNet, path: str | Path, info: Mapping[str, Any] | None = None) -> Path:
    """Save the weights in float16 (half the bytes; they are run in float32) with the shape and ``info``."""
    state = {k: v.detach().cpu().half() for k, v in model.state_dict().items()}
    path = Path(path)
    torch.save({"base": model.base, "blocks": model.blocks, "state_dict": state, "info": dict(info or {})}, path)
    return path


def load_model(path: str | Path) -> TransformerNet:
    """A network saved by :func:`save_model` (float32, eval mode); ``model.info`` holds what was saved with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}: train one with nstlib.feedforward.train and save_model")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ValueError(f"{path} is not a model saved by nstlib.feedforward.save_model (no 'state_dict' key)")
    model = TransformerNet(int(blob["base"]), int(blob["blocks"]))
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    model.info = dict(blob.get("info", {}))  # type: ignore[assignment]
    return model.eval()


#: the shipped models' registry (inside the package) and where their files live (the repository's data/)
MODELS_REGISTRY = Path(__file__).resolve().parent / "registry" / "models.json"
_REPO = Path(__file__).resolve().parents[1]


def shipped_model(name: str = "fast_brush_strokes") -> TransformerNet:
    """The model ``name`` of ``nstlib/registry/models.json``, checked against its sha256.

    Its file sits in the repository's ``data/models/`` (a git checkout; ``pip install`` without ``-e``
    does not copy it). ``model.info`` holds the training command, seed, steps and time.
    """
    import json

    entries = {e["name"]: e for e in json.loads(MODELS_REGISTRY.read_text())["models"]}
    if name not in entries:
        raise ValueError(f"no shipped model {name!r}; shipped: {', '.join(sorted(entries))}")
    entry = entries[name]
    path = _REPO / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped model {name!r} is not at {path}: it ships in the git repository (data/models/), "
            f"not in the wheel. Clone the repository, or train one: python benchmarks/train_feedforward.py --help"
        )
    if not verified(path, entry["sha256"], entry.get("bytes")):
        raise ValueError(
            f"{path} does not have the sha256 {entry['sha256']} recorded for {name!r}: restore it with git"
        )
    return load_model(path)
