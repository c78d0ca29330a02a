"""Layer 8: figures and the HTML report, rendered from typed results.

This layer computes nothing and writes nothing: figure functions
(:mod:`~wavescope.report.figures`) take fields and results and return matplotlib
figures, turned into bytes by :func:`~wavescope.report.figures.save_figure`;
:func:`render_comparison` turns a
:class:`~wavescope.pipelines.compare.ComparisonResult` into one self-contained HTML page.
It imports no io, signal or waves functions (tests/test_layers.py checks it).
"""

from wavescope.report.figures import save_figure, spacetime_figure, velocity_figure
from wavescope.report.html import render_comparison

__all__ = ["render_comparison", "save_figure", "spacetime_figure", "velocity_figure"]
