"""Check of the ``extract_features`` exercise (02): named feature maps of a plain torchvision VGG-19 via hooks.

The student names the modules of ``torchvision.models.vgg19().features`` with Gatys et al.'s (2016)
layer names (conv1_1, relu1_1, ..., pool5; Simonyan & Zisserman 2015, configuration E), normalises the
image with ImageNet's mean and std, and returns the requested maps. The reference is a functional walk
over the same layers in float64 on the CPU (independent of ``nstlib.vgg``); a failure is explained by
finding which map the student returned (the in-place ReLU's output, the unnormalised image's, the
neighbouring module's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from ._core import Case, Spec, _Failure, checker
from ._outputs import returned
from ._values import _close, _cpu_rand, _describe, _np, _on_device, _values, device

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _gatys_names(model: nn.Sequential) -> list[str]:
    """conv1_1, relu1_1, ..., pool5 for the modules of a torchvision VGG ``features`` Sequential."""
    names, block, index = [], 1, 0
    for module in model:
        if isinstance(module, nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{index}")
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            names.append(f"pool{block}")
            block, index = block + 1, 0
        else:
            raise TypeError(f"unexpected module {module!r}")
    return names


def _torchvision_vgg19_features(seed: int = 700) -> nn.Sequential:
    """``torchvision.models.vgg19(weights=None).features`` (built without the classifier), seeded He init."""
    import torchvision

    model = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                bias = module.bias
                assert bias is not None  # VGG's convolutions have biases
                bias.copy_(0.01 * torch.randn(bias.shape, generator=g))
    return model.eval().requires_grad_(False)


_MODELS: dict[str, nn.Sequential] = {}


def _model_on(dev: torch.device) -> nn.Sequential:
    """The check's torchvision VGG-19 features on ``dev``, built once per device (students' code may not
    change it: hooks left behind are a FAIL, and the weights are compared with a pristine copy)."""
    key = str(dev)
    if key not in _MODELS:
        _MODELS[key] = _torchvision_vgg19_features().to(dev)
    return _MODELS[key]


def _walk(model: nn.Sequential, x: Tensor) -> list[np.ndarray]:
    """Every module's output, computed functionally (out-of-place ReLU) in float64 on the CPU."""
    outs = []
    x = x.detach().cpu().double()
    for module in model:
        if isinstance(module, nn.Conv2d):
            assert module.bias is not None  # VGG's convolutions have biases
            x = TF.conv2d(x, module.weight.detach().cpu().double(), module.bias.detach().cpu().double(), padding=1)
        elif isinstance(module, nn.ReLU):
            x = TF.relu(x)
        else:
            x = TF.max_pool2d(x, 2, 2)
        outs.append(x.numpy())
    return outs


def _hook_count(model: nn.Module) -> int:
    """Forward hooks and forward pre-hooks attached to the model's modules."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _extract_cases() -> list[Case]:
    model = _model_on(device())
    for module in model:  # a previous student's function may have left hooks: start clean
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
        if isinstance(module, nn.ReLU):
            module.inplace = True
    names = _gatys_names(model)
    mean = torch.tensor(_IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    shared: dict[str, Any] = {"previous": None}
    specs = [
        ((2, 3, 32, 40), ["conv1_1", "relu1_1", "conv3_2", "pool2", "conv5_4"], True),
        ((1, 3, 36, 36), ["relu4_1", "conv4_2", "pool5", "conv2_2"], False),
        ((1, 3, 32, 32), ["conv1_2"], False),
    ]
    cases = []
    for index, (shape, layers, grad) in enumerate(specs):
        image = _on_device(_cpu_rand(shape, 710 + index, torch.float64, 0.0, 1.0), torch.float32).requires_grad_(grad)
        x = torch.from_numpy(_np(image))
        memo: dict[str, list[np.ndarray]] = {}

        def walks(kind: str, x: Tensor = x, memo: dict = memo) -> list[np.ndarray]:
            """Every module's output for the normalised ("normed") or the raw image, computed when first needed."""
            if kind not in memo:
                memo[kind] = _walk(model, (x - mean) / std if kind == "normed" else x)
            return memo[kind]

        data = {"model": model, "names": names, "layers": layers, "walks": walks, "shared": shared, "grad": grad}
        cases.append(
            Case(
                args=(model, image, list(layers)),
                np=(data,),
                rtol=1e-4,
                protect=[image],
                data=data,
                inputs=(
                    f"model = torchvision VGG-19 .features (37 modules), image = {_describe(image)}, layers = {layers}"
                ),
            )
        )
    return cases


def _extract_reference(d: dict[str, Any]) -> np.ndarray:
    """The requested maps of the normalised image, flattened and concatenated."""
    return np.concatenate([d["walks"]("normed")[d["names"].index(n)].ravel() for n in d["layers"]])


def _extract_output(out: Any, case: Case, where: str) -> np.ndarray:
    d = case.data
    names, layers = d["names"], d["layers"]
    shared = d["shared"]
    if _hook_count(d["model"]) != 0:
        raise _Failure(
            f"hooks are still attached to the model after your function returned ({where})",
            inputs=case.inputs,
            got=f"{_hook_count(d['model'])} hooks left on the model's modules",
            hint="remove every hook before returning: keep the handles, handle = "
            "module.register_forward_hook(fn), and call handle.remove() (in a `finally:` block, so that "
            "an error does not leave them attached either). Hooks left behind run at every later forward "
            "pass and keep the features alive.",
        )
    previous = shared.get("previous")
    if previous is not None:
        old_out, old_keys, old_values = previous
        if list(old_out.keys()) != old_keys or any(
            not torch.equal(old_out[k].detach(), v) for k, v in old_values.items() if k in old_out
        ):
            raise _Failure(
                f"your previous call's result changed during this call ({where})",
                inputs=case.inputs,
                hint="build a new dict inside the function at every call: a dict defined outside "
                "(a global, or a mutable default argument such as `store={}`) is shared by every call, "
                "so a later call adds to and overwrites an earlier result.",
            )
    if not isinstance(out, dict):
        raise _Failure(
            f"expected a dict {{layer name: tensor}} ({where})",
            inputs=case.inputs,
            got=_describe(out),
            hint=returned(out, "return a dict that maps each requested layer name to its feature tensor."),
        )
    missing = [n for n in layers if n not in out]
    extra = [n for n in out if n not in layers]
    if missing or extra:
        raise _Failure(
            f"wrong layer names in the result ({where})",
            inputs=case.inputs,
            expected=f"exactly the keys {layers}",
            got=f"keys {list(out)}",
            hint=f"return only the requested layers (extra: {extra[:5]})."
            if extra and not missing
            else f"the result lacks {missing}: name every module of model (a torchvision Sequential indexed "
            "0..36) with Gatys' name: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...",
        )
    normed = d["walks"]("normed")
    got_parts, wrong = [], []
    for name in layers:
        t = out[name]
        if not isinstance(t, Tensor):
            raise _Failure(
                f"{name}: expected a tensor ({where})",
                inputs=case.inputs,
                got=_describe(t),
                hint="store the module's output tensor for each layer.",
            )
        if d["grad"] and not t.requires_grad:
            raise _Failure(
                f"{name} is detached from the autograd graph ({where})",
                inputs=case.inputs,
                got=_describe(t),
                hint="the synthesis needs gradients through the features: don't "
                ".detach() them and don't run the model under torch.no_grad() (.clone() is fine).",
            )
        g = _np(t)
        if _close(g, normed[names.index(name)], 1e-4):
            got_parts.append(g.ravel())
        else:
            wrong.append((name, g))
    if wrong:
        raise _extract_failure(case, where, wrong)
    shared["previous"] = (out, list(out.keys()), {k: v.detach().clone() for k, v in out.items()})
    return np.concatenate(got_parts)


def _extract_failure(case: Case, where: str, wrong: list[tuple[str, np.ndarray]]) -> _Failure:
    """The FAIL for the layers whose features are wrong, with the hint that explains all of them."""
    d = case.data
    names = d["names"]
    normed, raw = d["walks"]("normed"), d["walks"]("raw")

    def source(g: np.ndarray, maps: list[np.ndarray]) -> int | None:
        return next((j for j, m in enumerate(maps) if _close(g, m, 1e-4)), None)

    found = {name: (names.index(name), source(g, normed), source(g, raw)) for name, g in wrong}
    trap = all(name.startswith("conv") and j == i + 1 for name, (i, j, _) in found.items())
    trap_raw = all(
        j is None and (k == i or (name.startswith("conv") and k == i + 1)) for name, (i, j, k) in found.items()
    ) and any(name.startswith("conv") and k == i + 1 for name, (i, _, k) in found.items())
    unnormalised = all(j is None and k == i for name, (i, j, k) in found.items())
    shifted = [(name, i, j) for name, (i, j, _) in found.items() if j is not None and j != i]
    name, g = wrong[0]
    i = names.index(name)
    if trap:
        hint = (
            f"the in-place ReLU trap: model[{i + 1}] is ReLU(inplace=True), which overwrites model[{i}]'s output "
            f"after your hook stored it, so your {name} holds the rectified map ({names[i + 1]}). Store a copy "
            "in the hook (output.clone()), or run the ReLU out of place."
        )
    elif unnormalised:
        hint = (
            "normalise the image first, as VGG-19 was trained: (image - mean) / std with ImageNet's mean "
            f"{_IMAGENET_MEAN} and std {_IMAGENET_STD} per channel (shape (1, 3, 1, 1))."
        )
    elif trap_raw:
        hint = (
            "two mistakes: normalise the image with ImageNet's mean and std, and mind the in-place ReLU: "
            "store output.clone() in the hook."
        )
    elif shifted:
        sname, si, sj = shifted[0]
        off = "off by one: " if all(abs(j - i) == 1 for _, i, j in shifted) else ""
        hint = (
            f"{off}what you return as {sname} is the output of model[{sj}] = {names[sj]}; {sname} is "
            f"model[{si}]. Count the names over ALL modules, starting at 0: conv1_1 = model[0], relu1_1 = "
            "model[1], conv1_2 = model[2], relu1_2 = model[3], pool1 = model[4], conv2_1 = model[5], ..."
        )
    else:
        hint = (
            "run model's modules in order on the normalised image and keep the outputs of the requested ones; "
            "check that conv layers keep their pre-ReLU values."
        )
    return _Failure(
        f"wrong features for {', '.join(n for n, _ in wrong)} ({where})",
        inputs=case.inputs,
        expected=f"{name}: shape {normed[i].shape}: {_values(normed[i])}",
        got=f"{name}: shape {g.shape}: {_values(g)}",
        hint=hint,
    )


EXTRACT_FEATURES = Spec(
    id="extract_features",
    notebook="02_content_reconstruction",
    title="named features from a torchvision VGG-19 via hooks",
    signature="extract_features(model, image, layers)",
    cases=_extract_cases,
    reference=_extract_reference,
    output=_extract_output,
    default_hint="normalise with ImageNet's mean and std, run the modules in order, keep each requested output "
    "(conv outputs before their in-place ReLU), and remove your hooks.",
    summary="{n} calls (batch 1-2, conv / relu / pool layers, a conv and its own ReLU together, conv5_4 and pool5) "
    "match a functional walk over the torchvision layers; conv maps are pre-ReLU, hooks removed, results not shared "
    "between calls.",
    noun="features",
    doc="""Check ``extract_features(model, image, layers) -> {name: tensor}`` on torchvision's VGG-19 ``features``.

    model: the torchvision ``features`` Sequential (modules 0..36: conv, ReLU(inplace=True), max-pool);
    image: (B, 3, H, W) in [0, 1]; layers: Gatys names (conv1_1, relu1_1, ..., pool5). The function
    normalises with ImageNet's mean/std, returns the requested maps (a conv's map *before* its ReLU)
    in a new dict, keeps them differentiable, and leaves no hook attached.
    """,
    points=4,
)
check_extract_features = checker(EXTRACT_FEATURES)
