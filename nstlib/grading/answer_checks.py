"""Checks of the exercises whose answer is a number, a list or a matching (no tensors), as data.

- ``receptive_field_sizes`` (01): the receptive field of every layer of a conv/pool stack (Simonyan &
  Zisserman 2015; the recurrence r_l = r_{l-1} + (k_l - 1) prod_{i<l} s_i);
- ``conv1_1_parameters`` (01): the learnable parameters of VGG-19's first convolution;
- ``texture_model_size`` (04): the parameters of Gatys et al.'s (2015) texture model, N(N+1)/2 per layer;
- ``match_reconstructions`` (02): which layer made which content reconstruction (Gatys et al. 2016, Fig. 1);
  layers far enough apart in depth to be told apart by eye, with trained or random weights.

The references are independent of the formulas the students use: a backward interval walk, the
parameter count of a ``torch.nn.Conv2d``, ``torch.triu_indices``, receptive fields from a walk over
VGG-19's configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._core import Case, Spec, _Failure, checker
from ._outputs import number, returned
from ._values import _describe, _short

# ----------------------------------------------------------------------------------------------
# 01 receptive fields


def _rf_reference(kernels: Sequence[int], strides: Sequence[int]) -> list[int]:
    """Receptive-field sizes by walking one unit's input interval back to the image.

    Independent of the recurrence: unit 0 of layer l covers [0, 0]; going back through layer j
    (kernel k_j, stride s_j), an interval [a, b] of layer j's outputs reads inputs [a s_j, b s_j + k_j - 1].
    The size at layer l is the width of the interval reached at the image.
    """
    sizes = []
    for l in range(1, len(kernels) + 1):
        a, b = 0, 0
        for j in reversed(range(l)):
            a, b = a * strides[j], b * strides[j] + kernels[j] - 1
        sizes.append(b - a + 1)
    return sizes


def _prod(xs: Sequence[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _recurrence(step: Callable[[int, int, list[int]], int], r0: int = 1) -> Callable[..., list[int]]:
    """Sizes by a recurrence r_l = r_{l-1} + step(l, k_l, strides): the shape of every wrong variant."""

    def sizes(kernels: Sequence[int], strides: Sequence[int]) -> list[int]:
        r, out = r0, []
        for l, k in enumerate(kernels):
            r = r + step(l, k, list(strides))
            out.append(r)
        return out

    return sizes


def _rf_output(out: Any, case: Case, where: str) -> np.ndarray:
    expected = [int(v) for v in np.ravel(case.expected())] if case.expected else []
    if isinstance(out, Tensor):
        out = out.tolist()
    if isinstance(out, (int, np.integer)):
        raise _Failure(
            f"expected one size per layer ({where})",
            inputs=case.inputs,
            expected=str(expected),
            got=_short(out),
            hint="return a list with one receptive-field size per layer, not only the last layer's.",
        )
    if not isinstance(out, (list, tuple, np.ndarray)):
        raise _Failure(
            f"expected a list of ints ({where})",
            inputs=case.inputs,
            expected=str(expected),
            got=_describe(out),
            hint=returned(out, "return a list of ints, one per layer."),
        )
    got = list(out)
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and float(v) == int(v) for v in got):
        raise _Failure(
            f"expected whole numbers ({where})",
            inputs=case.inputs,
            expected=str(expected),
            got=_short(got),
            hint="sizes are whole pixel counts: use ints (// not /).",
        )
    return np.array([int(v) for v in got], dtype=np.float64)


def _rf_default_hint(case: Case, got: np.ndarray) -> str:
    n = len(case.args[0])
    if got.size != n:
        return f"return exactly one size per layer: {n} layers here, your list has {got.size} entries."
    return "r_0 = 1; r_l = r_{l-1} + (k_l - 1) * prod_{i<l} s_i. Work case 1 out by hand."


RECEPTIVE_FIELD_SIZES = Spec(
    id="receptive_field_sizes",
    notebook="01_receptive_fields",
    title="receptive-field size of every layer",
    signature="receptive_field_sizes(kernels, strides)",
    inputs=[
        ([3, 3, 2, 3, 3, 2], [1, 1, 2, 1, 1, 2]),  # VGG's first two blocks: conv conv pool conv conv pool
        ([7, 3, 1, 5, 3], [2, 3, 1, 2, 1]),
        ([11, 3, 5, 3, 3, 3, 3], [4, 2, 1, 2, 1, 1, 2]),  # AlexNet-like
        ([5], [1]),
    ],
    reference=_rf_reference,
    wrong=[
        (
            "off by one: start from r_0 = 1 (before any layer a unit sees one pixel), not 0.",
            _recurrence(lambda l, k, s: (k - 1) * _prod(s[:l]), r0=0),
        ),
        (
            "the list should hold one size per layer: don't include r_0 = 1 at the front.",
            lambda k, s: [1] + _rf_reference(k, s),
        ),
        (
            "off by one in the stride product: layer l is spaced by the strides of the layers BEFORE "
            "it, prod_{i<l} s_i, not including its own stride s_l.",
            _recurrence(lambda l, k, s: (k - 1) * _prod(s[: l + 1])),
        ),
        (
            "use the product of ALL previous strides prod_{i<l} s_i (the jump between neighbouring "
            "units), not the current layer's stride s_l.",
            _recurrence(lambda l, k, s: (k - 1) * s[l]),
        ),
        (
            "use the product of ALL previous strides prod_{i<l} s_i, not only the previous layer's stride s_{l-1}.",
            _recurrence(lambda l, k, s: (k - 1) * (s[l - 1] if l else 1)),
        ),
        (
            "the jump is the PRODUCT of the previous strides, not their sum.",
            _recurrence(lambda l, k, s: (k - 1) * max(1, sum(s[:l]))),
        ),
        (
            "each layer widens the field by (k_l - 1) * jump, not k_l * jump: a 1x1 kernel adds nothing.",
            _recurrence(lambda l, k, s: k * _prod(s[:l])),
        ),
        (
            "the strides matter: each layer's (k_l - 1) is multiplied by the product of the previous strides.",
            _recurrence(lambda l, k, s: k - 1),
        ),
    ],
    rtol=0.0,
    output=_rf_output,
    default_hint=_rf_default_hint,
    summary="{n} networks (VGG blocks, AlexNet-like, strides 1-4) give the right sizes.",
    noun="sizes",
    show=lambda a: str([int(v) for v in np.ravel(a)]),
    doc="""Check ``receptive_field_sizes(kernels, strides) -> list[int]``.

    The size of the receptive field of layer l, in input pixels, with r_0 = 1:
    r_l = r_{l-1} + (k_l - 1) * prod_{i<l} s_i, one size per layer (no r_0 in the list). The
    reference walks one unit's input interval back to the image.
    """,
    points=2,
)
check_receptive_field_sizes = checker(RECEPTIVE_FIELD_SIZES)


def _const(value: Any) -> Callable[..., Any]:
    return lambda *args: value


_CONV1_1_WRONG = {  # wrong count -> hint (64 filters, 3x3 kernels, 3 input channels, one bias each)
    64 * 3 * 3 * 3: "don't forget the biases: every filter has one.",
    64 * 5 * 5 * 3 + 64: "conv1_1's filters are 3x3 (one slide says 5x5: a slip): every convolution "
    "of VGG uses 3x3 kernels (Simonyan & Zisserman: stacks of small filters instead of large ones).",
    64 * 5 * 5 * 3: "conv1_1's filters are 3x3 (one slide says 5x5: a slip), and each filter has a bias.",
    64 * 3 * 3 + 64: "each filter spans all 3 input channels (RGB): 3 x 3 x 3 weights per filter.",
    64 * 3 * 3: "each filter spans all 3 input channels (RGB), and each filter has a bias.",
    3 * 3 * 3 + 1: "that is one filter: conv1_1 has 64 of them.",
    3 * 3 * 3: "that is one filter without its bias: conv1_1 has 64 filters, each with a bias.",
    64: "that is the number of filters: count their weights and biases.",
}

CONV1_1_PARAMETERS = Spec(
    id="conv1_1_parameters",
    notebook="01_receptive_fields",
    title="number of parameters of conv1_1",
    signature="conv1_1_parameters()",
    inputs=[()],
    reference=lambda: sum(
        p.numel() for p in torch.nn.Conv2d(in_channels=3, out_channels=64, kernel_size=3).parameters()
    ),
    wrong=[(hint, _const(count)) for count, hint in _CONV1_1_WRONG.items()],
    rtol=0.0,
    output=number(whole=True, otherwise="return the count as an int.", show_expected=False),
    default_hint="weights per filter = kernel height x kernel width x input channels; add one bias per filter.",
    summary="1,792 = 64 filters x (3 x 3 kernel x 3 input channels) + 64 biases.",
    noun="parameter count",
    show=lambda a: f"{float(a):,.0f}" if float(a).is_integer() else repr(float(a)),
    expected_text="the number of weights plus biases of conv1_1 (64 filters, 3x3 kernels, 3 input channels)",
    value_ok=True,
    doc="""Check the number of learnable parameters of VGG-19's conv1_1 (a zero-argument function or an int).

    The reference is counted from a ``torch.nn.Conv2d`` with conv1_1's hyperparameters (3 input
    channels, 64 filters, 3x3 kernels, with bias).
    """,
)
check_conv1_1_parameters = checker(CONV1_1_PARAMETERS)


# ----------------------------------------------------------------------------------------------
# 04 texture synthesis

# VGG-19's channel counts (Simonyan & Zisserman 2015, configuration E), as inputs for the check.
_VGG19_BLOCKS = ((1, 64, 2), (2, 128, 2), (3, 256, 4), (4, 512, 4), (5, 512, 4))  # block, channels, convs


def _vgg19_channels(layers: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for block, channels, convs in _VGG19_BLOCKS[:4]:
        for i in range(1, convs + 1):
            if layers == "convs_and_pools" or (layers == "conv1_1_and_pools" and (block, i) == (1, 1)):
                out[f"conv{block}_{i}"] = channels
        out[f"pool{block}"] = channels
    return out


def _pairs(n: int) -> int:
    return n * (n + 1) // 2


TEXTURE_MODEL_SIZE = Spec(
    id="texture_model_size",
    notebook="04_texture_synthesis",
    title="number of parameters of the texture model",
    signature="texture_model_size(channels)",
    inputs=[
        (_vgg19_channels("convs_and_pools"),),  # conv1_1 ... pool4: Gatys' full texture model
        (_vgg19_channels("conv1_1_and_pools"),),  # conv1_1, pool1 ... pool4
        ({"a": 3, "b": 5},),
        ({"only": 7},),
        ({"x": 10, "y": 1, "z": 4},),
    ],
    reference=lambda ch: sum(int(torch.triu_indices(n, n).shape[1]) for n in ch.values()),
    wrong=[
        (
            "a Gram matrix is symmetric (G_ij = G_ji): count each pair once, N(N+1)/2 per layer, not N^2.",
            lambda ch: sum(n * n for n in ch.values()),
        ),
        (
            "the diagonal entries G_ii count too: N(N+1)/2 per layer, not N(N-1)/2.",
            lambda ch: sum(n * (n - 1) // 2 for n in ch.values()),
        ),
        (
            "the diagonal entries G_ii count too: N(N+1)/2 per layer, not N^2/2.",
            lambda ch: sum(n * n / 2 for n in ch.values()),
        ),
        (
            "count the entries of each layer's Gram matrix, not the channels: N(N+1)/2 per layer.",
            lambda ch: sum(ch.values()),
        ),
        (
            "compute N(N+1)/2 for EACH layer and add them up (not N(N+1)/2 of the total channel count).",
            lambda ch: _pairs(sum(ch.values())),
        ),
        ("add up every layer in the dict, not only the first one.", lambda ch: _pairs(next(iter(ch.values())))),
        ("add up every layer in the dict, not only the last one.", lambda ch: _pairs(list(ch.values())[-1])),
    ],
    rtol=0.0,
    output=number(whole=False, otherwise="return one int: the total over all layers."),
    default_hint="unique entries of a symmetric N x N matrix: N(N+1)/2; sum over the layers.",
    summary="{n} cases, including VGG-19 conv1_1..pool4 (852,128) and conv1_1 + pool1..pool4 (176,640).",
    noun="count",
    show=lambda a: f"{float(a):,.0f}" if float(a).is_integer() else repr(float(a)),
    doc="""Check ``texture_model_size(channels) -> int``: unique Gram entries N_l (N_l + 1) / 2 summed over layers.

    The reference counts the upper-triangular entries (diagonal included) of an N x N matrix with
    ``torch.triu_indices``.
    """,
)
check_texture_model_size = checker(TEXTURE_MODEL_SIZE)


# ----------------------------------------------------------------------------------------------
# 02 match_reconstructions(): which layer made which content reconstruction

#: the hidden answer: label -> layer of the content reconstructions made by :func:`reconstruction_puzzle`
PUZZLE_LAYERS: dict[str, str] = {"A": "conv3_2", "B": "conv1_2", "C": "conv5_2", "D": "conv4_2"}


def _vgg19_receptive_field(layer: str) -> int:
    """Receptive field (pixels) of a VGG-19 layer: walk the 3x3/stride-1 convs and 2x2/stride-2 pools."""
    r, jump, block, index = 1, 1, 1, 0
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"):
        if v == "M":
            r, jump, name = r + jump, jump * 2, f"pool{block}"
            block, index = block + 1, 0
        else:
            index += 1
            r, name = r + 2 * jump, f"conv{block}_{index}"
        if name == layer:
            return r
    raise ValueError(layer)


def reconstruction_puzzle(
    image: Any = "astronaut", *, size: int = 40, steps: int = 25, encoder: Any = None, seed: int = 0
) -> dict[str, Tensor]:
    """The four content reconstructions of the ``match_reconstructions`` exercise, labelled A-D.

    Each is :func:`nstlib.reconstruct_content` of ``image`` from one of :data:`PUZZLE_LAYERS` (from
    white noise, ``steps`` L-BFGS evaluations; white noise also with random weights, whose quieter
    default start would leave the deepest layer's picture plain grey and the puzzle's "more detail lost
    with depth" less visible). Returns {label: (1, 3, size, size') image}.
    """
    from ..experiments import reconstruct_content

    return {
        label: reconstruct_content(
            image, layer, size=size, steps=steps, encoder=encoder, init="noise", seed=seed, progress=False
        ).image
        for label, layer in sorted(PUZZLE_LAYERS.items())
    }


_LABELS = sorted(PUZZLE_LAYERS)
_DEPTH = sorted(PUZZLE_LAYERS.values(), key=_vgg19_receptive_field)  # shallowest first
_RF = {layer: _vgg19_receptive_field(layer) for layer in _DEPTH}
_TRUTH = np.array([_DEPTH.index(PUZZLE_LAYERS[label]) for label in _LABELS], dtype=np.float64)  # depth rank per label


#: the principle behind telling apart the pictures of depth ranks a and a + 1 (never the labels)
_SWAP_HINTS = (
    "two pictures are swapped. Look at the finest detail: which picture reproduces one-pixel edges and flat "
    "colours, and which shows grain on top of the right layout? A unit that sees a few pixels pins them "
    "down; one that sees tens of pixels only summarises them.",
    "two pictures are swapped. Compare how much of the layout survives: after one more pooling a unit "
    "summarises four times the area, and an image can match its features with blobs of the right colour in "
    "the right places but the wrong pixels.",
    "two pictures are swapped. Of the two least detailed pictures, which still shows where the large regions "
    "of the photo are? The deepest layer's units see most of the image, and many images share their "
    "summaries: its reconstruction stays furthest from the photo.",
)


def _swapped(a: int) -> tuple[str, Callable[[], np.ndarray]]:
    """The answer with the pictures of depth ranks a and a + 1 exchanged, and its hint (the principle only)."""
    i, j = sorted((int(np.where(_TRUTH == a)[0][0]), int(np.where(_TRUTH == a + 1)[0][0])))
    answer = _TRUTH.copy()
    answer[i], answer[j] = answer[j], answer[i]
    return _SWAP_HINTS[a], _const(answer)


def _puzzle_output(out: Any, case: Case, where: str) -> np.ndarray:
    if not isinstance(out, dict):
        raise _Failure(
            "expected a dict {label: layer name}",
            got=_describe(out),
            hint=returned(out, "return e.g. {'A': 'conv1_2', 'B': ...}: one layer name per picture label."),
        )
    if sorted(str(k).upper() for k in out) != _LABELS:
        raise _Failure(
            "wrong labels",
            expected=f"keys {_LABELS}",
            got=f"keys {sorted(out)}",
            hint="one entry per picture: the labels are A, B, C and D.",
        )
    answer = {str(k).upper(): str(v).strip() for k, v in out.items()}
    unknown = [v for v in answer.values() if v not in _DEPTH]
    if unknown:
        raise _Failure(
            "unknown layer names",
            got=_short(answer),
            hint=f"{unknown} is not one of the candidate layers: choose among {sorted(_DEPTH)}.",
        )
    if len(set(answer.values())) != len(_DEPTH):
        raise _Failure(
            "a layer is used twice", got=_short(answer), hint="each of the four layers made exactly one picture."
        )
    return np.array([_DEPTH.index(answer[label]) for label in _LABELS], dtype=np.float64)


MATCH_RECONSTRUCTIONS = Spec(
    id="match_reconstructions",
    notebook="02_content_reconstruction",
    title="which layer made which reconstruction",
    signature="match_reconstructions()",
    inputs=[()],
    reference=lambda: _TRUTH,
    wrong=[
        (
            "the order is reversed: the shallowest layer's units see only a few pixels each, so its features pin "
            "down every pixel; the deepest layer's units each summarise a large part of the image, and many "
            "images share those summaries.",
            _const((len(_DEPTH) - 1) - _TRUTH),
        ),
        *(_swapped(a) for a in range(len(_DEPTH) - 1)),
    ],
    describe=lambda: f"the pictures A-D of nstlib.grading.reconstruction_puzzle(); layers {sorted(_DEPTH)}",
    rtol=0.0,
    output=_puzzle_output,
    default_hint="order the pictures by how much fine detail survives, then match that order with the layers' "
    "receptive fields (notebook 01): the smaller a unit's field, the more of the pixels its layer pins down.",
    summary="all four pictures matched with their layers.",
    noun="matching",
    value_ok=True,
    doc="""Check ``match_reconstructions() -> {"A": layer, ...}``: which layer made each reconstruction.""",
)
check_match_reconstructions = checker(MATCH_RECONSTRUCTIONS)
