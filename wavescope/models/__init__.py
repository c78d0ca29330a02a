"""Models: Mamba, shift-SSM, v-Wave, transformer baselines, their scan kernels, tasks,
training and hidden-state probes.

This package imports torch. Submodules are imported on demand (for example
``from wavescope.models.scan import selective_scan``), so importing ``wavescope.models``
itself stays cheap.
"""
