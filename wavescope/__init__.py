"""wavescope: detect and measure traveling waves in cortex and in state-space models.

The analysis layers (``io``, ``datasets``, ``signal``, ``space``, ``waves``, ``stats``)
never import torch; ``wavescope.models`` does.

>>> import wavescope as ws
>>> from wavescope.datasets import grid_positions, planar_wave
>>> field = planar_wave(grid_positions(8, 8, 0.4e-3), fs=1000, duration=5, frequency=10,
...                     speed=0.3, direction=0.5, snr_db=10, seed=0)
>>> result = ws.measure_velocity(field, band=(8, 12))
>>> round(result.summary()["speed"]["median"], 2)
0.3
"""

from wavescope.core import WaveField
from wavescope.io import read_npz, read_recording, write_npz
from wavescope.waves import measure_velocity

__version__ = "0.1.0"
__all__ = [
    "WaveField",
    "measure_velocity",
    "read_recording",
    "read_npz",
    "write_npz",
    "__version__",
]
