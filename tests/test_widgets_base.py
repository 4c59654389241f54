"""RunPanel, the one base of every optimisation widget: the Run button's life cycle and status line."""

from __future__ import annotations

import pytest
import torch

from nstlib.synthesis import SynthesisResult
from nstlib.widgets import (
    ContentReconstructionWidget,
    StyleReconstructionWidget,
    TexturePanel,
    TransferPanel,
)
from nstlib.widgets.base import LiveView, RunPanel

from .helpers import smooth_image


class _Fake(RunPanel):
    """A run panel whose optimisation is a function the test gives."""

    def __init__(self, encoder, optimise, what=""):
        super().__init__(encoder=encoder, steps=7, min_interval=60.0, steps_range=(1, 10, 1))
        self.optimise, self.what, self.seen = optimise, what, None
        self.children = [self.run_button, self.status, self.preview, self.loss_plot]

    def describe(self):
        return self.what

    def _optimise(self, view):
        self.seen = (view, self.run_button.disabled, self.status.value)
        return self.optimise(view)


def _result(stopped=None):
    history = [{"step": 0, "total": 2.0, "time": 0.0}, {"step": 1, "total": 1.0, "time": 0.1}]
    return SynthesisResult(torch.rand(1, 3, 4, 4), history, {}, 1, stopped, "2 evaluations")


def test_every_widget_with_a_run_button_is_a_run_panel():
    assert all(
        issubclass(c, RunPanel)
        for c in (TransferPanel, TexturePanel, ContentReconstructionWidget, StyleReconstructionWidget)
    )


def test_run_reports_progress_and_the_result(encoder):
    p = _Fake(encoder, lambda view: _result(), what="3 layers")
    assert p.status.value == "Ready: press Run." and p.steps_slider.value == 7
    result = p.run()
    view, disabled_while_running, status_while_running = p.seen
    assert isinstance(view, LiveView) and view.steps == 7 and not view.weighted  # no checkbox: raw terms
    assert disabled_while_running and status_while_running == "Running: 3 layers ..."
    assert result is p.result and p.error is None and not p.run_button.disabled
    assert p.status.value == "Done (3 layers): 2 evaluations"
    assert bytes(p.preview.value)[:4] == b"\x89PNG" and view.history == result.history


def test_run_reports_an_early_stop(encoder):
    p = _Fake(encoder, lambda view: _result(stopped="interrupted"))
    p.run()
    assert p.status.value == "Done, stopped early (interrupted): 2 evaluations"


def test_errors_and_interrupts_go_to_the_status_line(encoder):
    def fail(view):
        raise ValueError("tick a layer")

    p = _Fake(encoder, fail)
    assert p.run() is None and p.status.value == "Error: tick a layer" and isinstance(p.error, ValueError)
    assert not p.run_button.disabled
    with pytest.raises(ValueError, match="tick a layer"):
        p.run(raise_errors=True)

    def interrupt(view):
        raise KeyboardInterrupt

    p = _Fake(encoder, interrupt)
    assert p.run() is None and p.status.value.startswith("Interrupted before the optimisation started")
    assert p.result is None and not p.run_button.disabled


def test_panels_without_an_encoder_build_the_one_their_function_would(encoder, monkeypatch):
    """Transfers use the defaults table's pooling (nstlib.transfer's); reconstructions and textures "auto"
    (reconstruct_content's, reconstruct_style's and synthesize_texture's default)."""
    import inspect

    import nstlib.widgets.base as base
    from nstlib.defaults import DEFAULTS
    from nstlib.experiments import get_encoder

    asked = []

    def fake_get_encoder(*args, **kwargs):
        bound = inspect.signature(get_encoder).bind(*args, **kwargs)
        bound.apply_defaults()
        asked.append(bound.arguments["pooling"])
        return encoder

    monkeypatch.setattr(base, "get_encoder", fake_get_encoder)
    img = smooth_image(32, 32)
    TransferPanel(img, smooth_image(32, 32, seed=1), size=32, steps=1)
    TexturePanel(img, size=24, steps=1)
    ContentReconstructionWidget(img, size=32, steps=1)
    StyleReconstructionWidget(img, size=32, steps=1)
    assert DEFAULTS.pooling == "avg" and asked == ["avg", "auto", "auto", "auto"]
    _Fake(None, lambda view: _result())  # a panel of one's own: the defaults table's
    assert asked[-1] == DEFAULTS.pooling
