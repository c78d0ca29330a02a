"""Layer 7: figures and reports built from computed numbers.

Plotting functions take fields and results and write files (matplotlib's Agg backend, no
display needed); they never compute measures themselves. :mod:`wavescope.report.spacetime`
draws the space-time image of a :class:`~wavescope.core.field.WaveField`.
"""
