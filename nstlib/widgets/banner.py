"""A banner that tells students which network (VGG-19 or VGG-16, trained or random) the notebook runs."""

from __future__ import annotations

__all__ = ["weights_banner", "banner_text"]


def banner_text(encoder) -> str:
    """One short paragraph on the network in use: a warning for random weights, a note for trained ones."""
    arch = getattr(encoder, "arch_name", "VGG-19")
    if getattr(encoder, "is_random", False):
        return (
            f"RANDOM WEIGHTS ({arch}, {encoder.weights_source}): the mechanics are exactly the papers', "
            "the pictures are not what a trained network sees. Each notebook's table 'Offline' says what "
            "changes; docs/gallery/ shows what a trained network gives. For a trained network set "
            "NSTLIB_WEIGHTS=imagenet (internet once), a torchvision VGG-19/VGG-16 file, or the output of "
            "'python -m nstlib weights --offline-vgg16', and restart the kernel."
        )
    source = encoder.weights_source
    note = "" if source in ("imagenet", "imagenet-vgg16") else " (from a file: say which network made your pictures)"
    return f"Trained {arch}: {source}{note}."


def weights_banner(encoder):
    """An ``ipywidgets.HTML`` banner (red for random weights, green for trained ones).

    Falls back to printing the text when ipywidgets is unavailable; returns the widget or None.
    """
    text = banner_text(encoder)
    try:
        import ipywidgets as w
    except ImportError:  # pragma: no cover
        print(text)
        return None
    colour, border = ("#fdecea", "#d93025") if getattr(encoder, "is_random", False) else ("#e6f4ea", "#188038")
    html = (
        f'<div style="background:{colour};border-left:6px solid {border};padding:8px 12px;font-weight:500">{text}</div>'
    )
    return w.HTML(html)
