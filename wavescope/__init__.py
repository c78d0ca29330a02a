"""wavescope: detect and measure traveling waves in cortex and in state-space models.

The analysis layers (``io``, ``datasets``, ``signal``, ``space``, ``waves``, ``stats``)
never import torch; ``wavescope.models`` does.

Examples
--------
>>> import wavescope as ws
>>> from wavescope.datasets import grid_positions, planar_wave
>>> field = planar_wave(grid_positions(8, 8, 0.4e-3), fs=1000, duration=5, frequency=10,
...                     speed=0.3, direction=0.5, snr_db=10, seed=0)
>>> result = ws.measure_velocity(field, band=(8, 12))
>>> round(result.summary()["speed"]["median"], 2)
0.3
"""

from importlib import import_module

__version__ = "0.1.0"

# the top-level names load their layer on first use (PEP 562), so that importing one
# layer (e.g. the report) does not import every other one
_LAZY = {
    "WaveField": "wavescope.core",
    "measure_velocity": "wavescope.waves",
    "read_recording": "wavescope.io",
    "read_npz": "wavescope.io",
    "write_npz": "wavescope.io",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wavescope' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "WaveField",
    "measure_velocity",
    "read_recording",
    "read_npz",
    "write_npz",
    "__version__",
]
