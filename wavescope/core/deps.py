"""Soft imports of optional dependencies, answered by an error naming the extra."""

from __future__ import annotations

import importlib

from wavescope.core.errors import MissingDependencyError

__all__ = ["require"]

#: How each optional dependency is installed (the extra of pyproject.toml that brings it).
EXTRAS = {
    "torch": "models",
    "dask": "batch",
    "distributed": "cluster",
    "pynwb": "nwb",
    "mne_bids": "bids",
    "tifffile": "imaging",
    "h5py": "imaging",
    "neo": "neo",
    "transformers": "hf",
}

_HINTS = {
    "torch": " (a CPU-only torch first avoids several GB of CUDA wheels: pip install torch "
    "--index-url https://download.pytorch.org/whl/cpu)",
}


def require(module: str, purpose: str):
    """Import and return ``module``, or raise :class:`MissingDependencyError`.

    Parameters
    ----------
    module : str
        Importable name, e.g. ``"pynwb"``.
    purpose : str
        What needs it, for the message (e.g. ``"reading NWB files"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        how = f'pip install "wavescope[{extra}]"' if extra else f"pip install {top}"
        raise MissingDependencyError(
            f"{purpose} needs {top}, which is not installed ({exc}); install it with "
            f"{how}{_HINTS.get(top, '')}."
        ) from None
