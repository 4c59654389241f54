"""Repository-wide pytest settings: tests and notebooks run offline, quick and deterministic by default.

``NSTLIB_WEIGHTS=random`` (no download) and ``NSTLIB_QUICK=1`` (small images, few steps) are set
unless the caller set them, so a plain ``pytest`` is the README's test command and CI's. Notebook
kernels started by nbval inherit these variables.
"""

import os

os.environ.setdefault("NSTLIB_WEIGHTS", "random")
os.environ.setdefault("NSTLIB_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
