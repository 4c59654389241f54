"""Every API a hint, message or docstring of the grading package names exists.

Issue 14: the 5x5 hint told students to read ``encoder.layers['conv1_1'].weight.shape``, and
``VGG19Features`` has no ``.layers``. Here every string literal of every module of
``nstlib.grading`` (f-strings' literal parts included) is searched for dotted names that start
with a known object (``nstlib.``, ``torch.``, ``encoder.``, ``model.``, ``x.``, ...) and for
``.method(`` calls on tensors; each one must resolve by a getattr chain on a real object: the
modules, a random-weight ``VGG19Features``, a torchvision VGG-19 ``features``, a tensor, an L-BFGS
optimiser, a hook handle.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import torch

import nstlib
import nstlib.grading

GRADING_DIR = Path(nstlib.grading.__file__).parent
DOTTED = re.compile(r"(?<![\w.\]])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")
METHOD = re.compile(r"(?<=[\s(`,:'\"])\.([A-Za-z_]\w*)\(")


def _strings(source: str) -> list[str]:
    """Every string literal of a module, f-strings' literal parts included."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
    return out


def _objects(encoder):
    from nstlib.grading import feature_checks

    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    conv = torch.nn.Conv2d(3, 4, 3)
    handle = conv.register_forward_hook(lambda *a: None)
    handle.remove()
    tensor = x  # a leaf that requires grad, like the images the hints talk about
    return {
        "nstlib": [nstlib],
        "torch": [torch],
        "np": [importlib.import_module("numpy")],
        "grading": [nstlib.grading],
        "encoder": [encoder],
        "model": [feature_checks._torchvision_vgg19_features()],
        "module": [conv],
        "handle": [handle],
        "opt": [torch.optim.LBFGS([x])],
        # tensors in the hints' notation; F is also torch.nn.functional (F.mse_loss)
        **{
            name: [tensor]
            for name in (
                "x",
                "x0",
                "image",
                "img",
                "P",
                "A",
                "G",
                "X",
                "loss",
                "best",
                "out",
                "output",
                "value",
                "mask",
                "t",
                "grad",
            )
        },
        "F": [tensor, torch.nn.functional],
    }


def _resolves(root, parts: list[str], wildcard: bool = False) -> bool:
    """getattr chain; with ``wildcard`` (the name was followed by "...", as in check_...) the last part is a prefix."""
    obj = root
    for i, part in enumerate(parts):
        if obj is None:  # e.g. x.grad before a backward: the attribute exists, its value is None
            return True
        if wildcard and i == len(parts) - 1:
            return any(name.startswith(part) for name in dir(obj))
        try:
            obj = getattr(obj, part)
        except AttributeError:
            if hasattr(obj, "__name__") and isinstance(obj, type(torch)):
                try:
                    obj = importlib.import_module(f"{obj.__name__}.{part}")
                    continue
                except ImportError:
                    return False
            return False
    return True


def references(text: str, known: set[str]) -> list[tuple[str, list[str], bool]]:
    """(prefix, attribute chain, wildcard) for every dotted name with a known prefix, and ('.', [method], False)
    for `.method(`; wildcard when the name is followed by "..." (nstlib.grading.check_...)."""
    found = []
    for match in DOTTED.finditer(text):
        prefix, *chain = match.group(1).split(".")
        if prefix in known:
            found.append((prefix, chain, text[match.end() : match.end() + 3] == "..."))
    for match in METHOD.finditer(text):
        found.append((".", [match.group(1)], False))
    return found


def unresolved(texts: list[str], objects: dict) -> list[str]:
    bad = []
    for text in texts:
        for prefix, chain, wildcard in references(text, set(objects)):
            roots = objects[prefix] if prefix != "." else [objects["x"][0]]
            if not any(_resolves(root, chain, wildcard) for root in roots):
                bad.append(f"{prefix}.{'.'.join(chain)}  in: {text[:120]!r}")
    return bad


@pytest.fixture(scope="module")
def objects(encoder):
    return _objects(encoder)


MODULES = sorted(GRADING_DIR.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_every_api_named_in_the_grading_strings_exists(path, objects):
    bad = unresolved(_strings(path.read_text()), objects)
    assert not bad, "names that do not resolve:\n" + "\n".join(bad)


def test_the_hints_name_apis_at_all(objects):
    """The extractor finds the references (so the test above is not vacuous)."""
    texts = [s for p in MODULES for s in _strings(p.read_text())]
    found = {(p, ".".join(c)) for t in texts for p, c, _ in references(t, set(objects))}
    assert ("torch", "optim.LBFGS") in found and ("torch", "nn.functional.adaptive_avg_pool2d") in found
    assert (".", "reshape") in found and ("x", "clamp_") in found
    assert any(p == "x" for p, _ in found) and any(p == "nstlib" for p, _ in found)
    assert len(found) >= 25, sorted(found)


@pytest.mark.parametrize(
    "text",
    [
        "Read the kernel size from the model: encoder.layers['conv1_1'].weight.shape.",  # the issue-14 hint
        "use torch.nn.functional.adaptive_avgpool2d(mask, size)",
        "call nstlib.grading.check_gram(gram_matrix)",
        "run nstlib.grading.check_gramm_...",
        "keep the tensor: x.detatch().clone()",
        "use .reshpe(...) instead",
    ],
)
def test_a_missing_api_is_reported(text, objects):
    assert unresolved([text], objects), text


def test_the_real_names_resolve(objects):
    assert not unresolved(
        [
            "encoder.features.conv1_1.weight.shape",
            "torch.optim.LBFGS",
            "nstlib.grading.check_gram_matrix(fn)",
            "x.detach().clone()",
            "F.mse_loss",
            "F.shape",
            "handle.remove()",
            "opt.zero_grad()",
            "use .reshape(...)",
            "model.register_forward_hook",
            "nstlib.control.layer_masks",
        ],
        objects,
    )
