"""Interactive widgets for the notebooks (ipywidgets 8). The logic lives here and is unit-tested;
notebooks only construct and display them.

- :mod:`nstlib.widgets.base`: ``RunPanel``, the Run button / status / live preview / loss plot
  that the reconstruction widgets and the panels share, and the CSS-class contract.
- :mod:`nstlib.widgets.receptive`: pick a layer, see its receptive field on an image (notebook 01).
- :mod:`nstlib.widgets.reconstruct`: content/style reconstruction with layer and steps (notebook 02).
- :mod:`nstlib.widgets.synthesis_panel`: ``SynthesisPanel``, what the two panels share (layer-weight
  sliders, optimiser, layout, the run through :func:`nstlib.synthesize`).
- :mod:`nstlib.widgets.panel`: ``TransferPanel`` (notebook 05), and ``TexturePanel`` (notebook 04,
  from :mod:`nstlib.widgets.texture_panel`), with live preview and live per-layer loss curves.
- :mod:`nstlib.widgets.blend`: a mix slider between two styles (notebook 06).
"""

from __future__ import annotations

try:  # the widgets are the notebook stack's, not the library's: `pip install nstlib` has no ipywidgets
    import ipywidgets as _ipywidgets  # noqa: F401
except ImportError as _err:
    raise ImportError(
        f"nstlib.widgets needs ipywidgets 8, part of the notebook stack ({_err}). "
        'Install it with: pip install "nstlib[notebooks]"  (or: pip install "ipywidgets>=8")'
    ) from _err

from .banner import weights_banner  # noqa: F401
from .blend import *  # noqa: F401,F403
from .panel import *  # noqa: F401,F403
from .receptive import *  # noqa: F401,F403
from .reconstruct import *  # noqa: F401,F403
