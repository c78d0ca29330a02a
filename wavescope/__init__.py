"""wavescope: detect and measure traveling waves in cortex and in state-space models.

The analysis layers (``io``, ``datasets``, ``signal``, ``space``, ``waves``, ``stats``)
never import torch; ``wavescope.models`` does.
"""

from wavescope.core import WaveField

__version__ = "0.1.0"
__all__ = ["WaveField", "__version__"]
