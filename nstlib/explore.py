"""Deprecated: ``nstlib.explore`` was split by kind into :mod:`nstlib.analysis` and :mod:`nstlib.viz`.

The computations (``architecture_table``, ``unit_at``, ``effective_receptive_fields``,
``input_gradient_step``, ``shuffle_patches``, ``representation_change``, ``style_terms``, ...) live
in :mod:`nstlib.analysis`; every ``plot_*`` / ``draw_*`` function in :mod:`nstlib.viz`. The old names
keep working here for one version, each with a :class:`DeprecationWarning` naming the new home.
"""

from __future__ import annotations

from ._moved import forwarder

#: {old name: new module} for every public name this module had.
_MOVED = {
    **dict.fromkeys(
        [
            "LayerInfo",
            "ArchitectureTable",
            "architecture_table",
            "unit_at",
            "effective_receptive_fields",
            "input_gradient_step",
            "shuffle_patches",
            "RepresentationChange",
            "representation_change",
            "StyleTerm",
            "style_terms",
        ],
        "nstlib.analysis",
    ),
    **dict.fromkeys(
        [
            "draw_receptive_fields",
            "plot_effective_receptive_fields",
            "plot_feature_maps",
            "plot_reconstruction_losses",
            "plot_style_terms",
            "plot_gram",
        ],
        "nstlib.viz",
    ),
}

__all__ = list(_MOVED)


__getattr__, __dir__ = forwarder("nstlib.explore", _MOVED)
