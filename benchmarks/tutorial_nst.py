"""A faithful re-implementation of PyTorch's "Neural Transfer Using PyTorch" tutorial algorithm.

Written from the tutorial's description (pytorch.org/tutorials/advanced/neural_style_tutorial.html,
Alexis Jacq / Winston Herring), so that nstlib can be benchmarked against it on equal terms:

- torchvision VGG-19 ``features``; a ``Normalization`` module (ImageNet mean/std) in front;
  every ReLU replaced by an *out-of-place* ``nn.ReLU(inplace=False)``;
- a loss module right after a convolution: content at ``conv_4`` (= Gatys' conv2_2), style at
  ``conv_1 .. conv_5`` (= conv1_1, conv1_2, conv2_1, conv2_2, conv3_1); the network is cut after
  the last loss module;
- Gram matrix ``G = F F^T / (a*b*c*d)`` for features of shape (a, b, c, d) viewed as (a*b, c*d);
  style term ``mse_loss(G, A)``; content term ``mse_loss(F, P)``;
- ``loss = 1e6 * sum(style terms) + 1 * sum(content terms)``;
- ``torch.optim.LBFGS([img])`` with its defaults (lr 1, max_iter 20, history 100, no line search);
- ``run_style_transfer``'s loop ``while run[0] <= num_steps: optimizer.step(closure)``, the
  image clamped to [0, 1] at the start of every closure and once at the end; started from a copy
  of the content image. With 300 "steps" this makes 16 L-BFGS steps of 20 evaluations = 320.

In terms of nstlib's (Gatys') losses, with N_l channels and M_l = H_l W_l positions::

    mse(F, P)           = 2 / (N M)   * [1/2 sum (F - P)^2]            (nstlib content_loss)
    mse(G/(NM), A/(NM)) = 4 / N^2     * [1/(4 N^2 M^2) sum (G - A)^2]  (nstlib style_layer_loss E_l)

so nstlib reproduces the tutorial's objective exactly with :func:`nstlib_layer_weights`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CONTENT_LAYERS",
    "STYLE_LAYERS",
    "GATYS_NAMES",
    "STYLE_WEIGHT",
    "CONTENT_WEIGHT",
    "Normalization",
    "ContentLoss",
    "StyleLoss",
    "gram_matrix",
    "get_style_model_and_losses",
    "tutorial_loss",
    "run_style_transfer",
    "TutorialResult",
    "nstlib_layer_weights",
    "load_vgg19_features",
]

#: The tutorial's layer names (conv_i = the i-th convolution) and Gatys' names for them.
CONTENT_LAYERS = ("conv_4",)
STYLE_LAYERS = ("conv_1", "conv_2", "conv_3", "conv_4", "conv_5")
GATYS_NAMES = {"conv_1": "conv1_1", "conv_2": "conv1_2", "conv_3": "conv2_1", "conv_4": "conv2_2", "conv_5": "conv3_1"}
STYLE_WEIGHT = 1_000_000.0
CONTENT_WEIGHT = 1.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalization(nn.Module):
    """(img - mean) / std with ImageNet statistics; img is (B, 3, H, W) in [0, 1]."""

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1))

    def forward(self, img: Tensor) -> Tensor:
        return (img - self.mean) / self.std


def gram_matrix(input: Tensor) -> Tensor:
    """The tutorial's normalised Gram matrix: (a*b, a*b) = F F^T / (a*b*c*d) for input (a, b, c, d)."""
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)  # (a*b, M)
    G = torch.mm(features, features.t())  # (a*b, a*b)
    return G.div(a * b * c * d)


class ContentLoss(nn.Module):
    """Transparent layer that stores ``self.loss = mse_loss(input, target)``."""

    def __init__(self, target: Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss: Tensor = torch.zeros(())

    def forward(self, input: Tensor) -> Tensor:
        self.loss = F.mse_loss(input, self.target)
        return input


class StyleLoss(nn.Module):
    """Transparent layer that stores ``self.loss = mse_loss(gram_matrix(input), gram_matrix(target))``."""

    def __init__(self, target_feature: Tensor) -> None:
        super().__init__()
        self.target = gram_matrix(target_feature).detach()
        self.loss: Tensor = torch.zeros(())

    def forward(self, input: Tensor) -> Tensor:
        G = gram_matrix(input)
        self.loss = F.mse_loss(G, self.target)
        return input


def load_vgg19_features(state_dict_path: str | None = None) -> nn.Sequential:
    """torchvision's ``vgg19().features`` in eval mode, weights from a saved state dict.

    The file holds the whole model or only ``.features``. A VGG-16 file (13 convolutions) gives
    ``vgg16().features``: its first five convolutions, all the tutorial uses, sit at the same
    indices as VGG-19's.
    """
    import torchvision

    if state_dict_path is None:
        return torchvision.models.vgg19(weights=None).features.eval()
    state = torch.load(state_dict_path, map_location="cpu", weights_only=True)
    if any(k.startswith("features.") for k in state):  # a whole-model state dict
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    cfg = "D" if sum(k.endswith(".weight") for k in state) == 13 else "E"  # VGG-16 or VGG-19
    # the features without building (and randomly initialising) the 120M-parameter classifier
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs[cfg], batch_norm=False)
    features.load_state_dict(state)
    return features.eval()


def get_style_model_and_losses(
    cnn: nn.Sequential,
    style_img: Tensor,
    content_img: Tensor,
    content_layers: tuple[str, ...] = CONTENT_LAYERS,
    style_layers: tuple[str, ...] = STYLE_LAYERS,
) -> tuple[nn.Sequential, list[StyleLoss], list[ContentLoss]]:
    """The tutorial's model: Normalization, VGG layers (out-of-place ReLU) with loss layers inserted.

    The network is cut after the last loss layer.
    """
    normalization = Normalization().to(content_img.device)
    content_losses: list[ContentLoss] = []
    style_losses: list[StyleLoss] = []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)  # the in-place version would overwrite the loss layers' inputs
        elif isinstance(layer, nn.MaxPool2d):
            name = f"pool_{i}"
        elif isinstance(layer, nn.BatchNorm2d):
            name = f"bn_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")
        model.add_module(name, layer)
        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    model = model[: i + 1]
    return model, style_losses, content_losses


def tutorial_loss(
    cnn: nn.Sequential,
    content_img: Tensor,
    style_img: Tensor,
    img: Tensor,
    style_weight: float = STYLE_WEIGHT,
    content_weight: float = CONTENT_WEIGHT,
) -> dict[str, float]:
    """The tutorial's objective of ``img`` in float32 (no gradient): {"total", "style", "content"}.

    ``style`` and ``content`` are the *weighted* sums, as the tutorial prints them; per-layer raw
    terms are included as ``"style/conv_i"`` and ``"content/conv_i"``.
    """
    model, style_losses, content_losses = get_style_model_and_losses(
        cnn.float(), style_img.float(), content_img.float()
    )
    model.requires_grad_(False)
    with torch.no_grad():
        model(img.float().clamp(0, 1))
    out: dict[str, float] = {}
    names = [n for n, m in model.named_children() if isinstance(m, (StyleLoss, ContentLoss))]
    for n, m in zip(names, [m for m in model.children() if isinstance(m, (StyleLoss, ContentLoss))]):
        kind = "style" if isinstance(m, StyleLoss) else "content"
        out[f"{kind}/conv_{n.rsplit('_', 1)[1]}"] = float(m.loss)
    style = style_weight * sum(float(m.loss) for m in style_losses)
    content = content_weight * sum(float(m.loss) for m in content_losses)
    out.update(style=style, content=content, total=style + content)
    return out


@dataclass
class TutorialResult:
    """Output of :func:`run_style_transfer`: the final image and one total loss per evaluation.

    ``times[i]``: seconds from the call's start (model and targets included) to evaluation i's loss.
    """

    image: Tensor
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    times: list[float] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        return len(self.losses)


def run_style_transfer(
    cnn: nn.Sequential,
    content_img: Tensor,
    style_img: Tensor,
    input_img: Tensor,
    num_steps: int = 300,
    style_weight: float = STYLE_WEIGHT,
    content_weight: float = CONTENT_WEIGHT,
) -> TutorialResult:
    """The tutorial's ``run_style_transfer``: L-BFGS with default settings on the pixels of ``input_img``.

    ``input_img`` (1, 3, H, W) is optimised in place (the tutorial passes ``content_img.clone()``).
    The loop ``while run[0] <= num_steps`` runs whole L-BFGS steps of 20 evaluations, so 300
    "steps" are 320 evaluations. Returns the final (clamped) image, as the tutorial does.
    """
    start = time.perf_counter()
    model, style_losses, content_losses = get_style_model_and_losses(cnn, style_img, content_img)
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = torch.optim.LBFGS([input_img])
    losses: list[float] = []
    times: list[float] = []
    run = [0]
    while run[0] <= num_steps:

        def closure() -> Tensor:
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = 0.0
            content_score = 0.0
            for sl in style_losses:
                style_score += sl.loss
            for cl in content_losses:
                content_score += cl.loss
            style_score *= style_weight
            content_score *= content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            losses.append(loss.item())
            times.append(time.perf_counter() - start)
            return style_score + content_score

        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return TutorialResult(input_img.detach(), losses, time.perf_counter() - start, times)


def nstlib_layer_weights(
    content_img: Tensor,
    style_weight: float = STYLE_WEIGHT,
    content_weight: float = CONTENT_WEIGHT,
) -> tuple[dict[str, float], dict[str, float]]:
    """nstlib (content_layers, style_layers) weights whose objective equals the tutorial's.

    With ``synthesize(content_weight=1, style_weight=1, ...)``:
    content conv2_2: ``content_weight * 2 / (N M)`` divided by nstlib's size factor (synthesize
    multiplies content terms by ``M_l(512 px) / M_l``); style layer l: ``style_weight * 4 / N_l^2``.
    (Pure arithmetic on the layer shapes of a VGG-19 for an image of ``content_img``'s size.)
    """
    from nstlib.synthesis import size_factor
    from nstlib.vgg import layer_shape

    channels = {"conv1_1": 64, "conv1_2": 64, "conv2_1": 128, "conv2_2": 128, "conv3_1": 256}
    H, W = content_img.shape[-2:]
    content = {}
    for name in CONTENT_LAYERS:
        layer = GATYS_NAMES[name]
        content[layer] = (
            content_weight * 2.0 / (channels[layer] * math.prod(layer_shape(layer, H, W))) / size_factor(layer, H, W)
        )
    style = {GATYS_NAMES[name]: style_weight * 4.0 / channels[GATYS_NAMES[name]] ** 2 for name in STYLE_LAYERS}
    return content, style
