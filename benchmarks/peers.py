"""The peer tools of the benchmarks: availability, install commands, and wavespace's route.

Peers are installed for the benchmarks only (``benchmarks/requirements.txt``), never by
the package. ``wavespace`` 1.1.9 declares heavy dependencies (pyvista, vtk, tvb-gdist,
emd, scikit-image, ...) used by modules the benchmark does not touch, and its top-level
``import WaveSpace`` imports every subpackage, including one that needs
``scipy.interpolate.interp2d`` (removed in SciPy 1.14): it fails on the SciPy the project
uses however it is installed. :func:`import_wavespace` therefore loads only the four
modules of the route (``Utils.WaveData``, ``Preprocessing.Filter``,
``Decomposition.Hilbert``, ``WaveAnalysis.DistanceCorrelation``) without running the
package ``__init__`` files, and puts an empty placeholder for
``SpatialArrangement.SensorLayout`` (imported at the top of ``DistanceCorrelation`` for
functions the route never calls; it needs vtk and tvb-gdist). The code that runs is
wavespace's own, unchanged.
"""

from __future__ import annotations

import importlib.util
import sys
import types

WAVESPACE_VERSION = "1.1.9"
MAMBAPY_VERSION = "1.2.0"

#: How to install each peer into the project venv (printed when one is missing).
INSTALL = {
    "wavespace": (
        ".venv/bin/pip install pint plotly && "
        f".venv/bin/pip install --no-deps wavespace=={WAVESPACE_VERSION}"
    ),
    "mambapy": f".venv/bin/pip install mambapy=={MAMBAPY_VERSION}",
}


def peer_status(name: str) -> dict:
    """``{"available": bool, "version": str|None, "reason": str|None, "install": cmd}``."""
    from benchlib import pkg_version

    dist = {"wavespace": "wavespace", "mambapy": "mambapy"}[name]
    want = {"wavespace": WAVESPACE_VERSION, "mambapy": MAMBAPY_VERSION}[name]
    version = pkg_version(dist)
    reason = None
    if version is None:
        reason = f"{name} is not installed; install it with: {INSTALL[name]}"
    else:
        try:
            if name == "wavespace":
                import_wavespace()
            else:
                importlib.import_module("mambapy.pscan")
        except Exception as exc:  # a missing dependency of the peer
            reason = (
                f"{name} {version} does not import ({type(exc).__name__}: {exc}); "
                f"install it with: {INSTALL[name]}"
            )
    out = {"available": reason is None, "version": version, "reason": reason}
    out["install"] = INSTALL[name]
    if version is not None and version != want:
        out["note"] = f"benchmarked version is {want}, installed is {version}"
    return out


def _shell(name: str) -> None:
    """Register package ``name`` (its path only, its ``__init__`` not run)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"no package {name}")
    mod = types.ModuleType(name)
    mod.__path__ = list(spec.submodule_search_locations)
    mod.__spec__ = spec
    mod.__package__ = name
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, mod)


class _Unused(types.ModuleType):
    """Placeholder for a module imported but never used by the benchmarked route."""

    def __getattr__(self, attr):
        # AttributeError, so that hasattr() and tools that scan sys.modules work
        raise AttributeError(
            f"{self.__name__} is a placeholder of the benchmark (its dependencies vtk and "
            f"tvb-gdist are not installed); {attr!r} is not available"
        )


def import_wavespace() -> types.SimpleNamespace:
    """wavespace's route modules: ``WaveData``, ``Filter``, ``Hilbert``, and
    ``phase_gradient_complex_multiplication``, imported without the package ``__init__``.
    """
    for pkg in (
        "WaveSpace",
        "WaveSpace.Decomposition",
        "WaveSpace.SpatialArrangement",
        "WaveSpace.WaveAnalysis",
    ):
        _shell(pkg)
    name = "WaveSpace.SpatialArrangement.SensorLayout"
    if name not in sys.modules:
        sys.modules[name] = _Unused(name)
        sys.modules["WaveSpace.SpatialArrangement"].SensorLayout = sys.modules[name]
    from WaveSpace.Decomposition import Hilbert
    from WaveSpace.Preprocessing import Filter
    from WaveSpace.Utils import WaveData
    from WaveSpace.WaveAnalysis.DistanceCorrelation import phase_gradient_complex_multiplication

    return types.SimpleNamespace(
        WaveData=WaveData,
        Filter=Filter,
        Hilbert=Hilbert,
        phase_gradient_complex_multiplication=phase_gradient_complex_multiplication,
    )
