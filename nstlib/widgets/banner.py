"""A banner that tells students which VGG-19 weights the notebook is running with."""

from __future__ import annotations

__all__ = ["weights_banner", "banner_text"]


def banner_text(encoder) -> str:
    """One sentence on the weights in use: a warning for random weights, a note for trained ones."""
    if getattr(encoder, "is_random", False):
        return (
            "RANDOM WEIGHTS: this notebook runs VGG-19 with random (untrained) filters, "
            f"[{encoder.weights_source}]. The mechanics are exactly those of the papers, but the "
            "pictures are not what a trained network sees: reconstructions use average pooling and "
            "random filters built to keep the image (mirrored pairs with a leak), so detail fades with "
            "depth as with a trained network but the deepest layers keep a blurred photo rather than "
            "its objects; textures use a random multi-scale filter model instead of VGG-19 (the "
            "trained VGG-19 adds crisp objects); style transfer carries the painting's colours and "
            "grain rather than its strokes. For the real thing, set "
            "NSTLIB_WEIGHTS=imagenet (needs internet once) or NSTLIB_WEIGHTS=/path/to/vgg19.pth "
            "and restart the kernel."
        )
    return f"Trained VGG-19 weights: {encoder.weights_source}."


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
