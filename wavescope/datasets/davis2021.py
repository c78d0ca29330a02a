"""Published wave statistics of marmoset area MT (Davis et al. 2021), for comparisons.

Davis et al. (2021) measured travelling waves on Utah arrays in marmoset MT; the data
behind their figure 6, as published in the authors' repository, are two MATLAB files:

- ``*speed_density*.mat``: ``speed_range`` (1 x 2000, m/s, 0.001-2) and ``k`` (density of
  the measured wave speeds over that range);
- ``ell_*.mat``: ``ell`` (n x 1), measured wavelengths in metres.

wavescope does not ship these data. They are found one way only: the path given (the
loaders' ``path``, ``--reference-speeds PATH`` of ``wavescope demo`` and ``wavescope
compare``; a file or the folder holding it), else the environment variable
``WAVESCOPE_DAVIS2021``; no other place is searched. Use them as a cited reference
distribution.

References
----------
Davis ZW, Benigno GB, Fletterman C, Desbordes T, Steward C, Sejnowski TJ, Reynolds JH,
Muller L (2021) Spontaneous traveling waves naturally emerge from horizontal fiber time
delays and travel through locally asynchronous-irregular states. Nat Commun 12:6057.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError

__all__ = [
    "DAVIS2021_ENV",
    "DAVIS2021_CITATION",
    "SpeedDensity",
    "davis2021_path",
    "reference_speeds_path",
    "read_davis2021_speeds",
    "read_davis2021_wavelengths",
]

#: Environment variable naming the data (a file, or the folder holding both files).
DAVIS2021_ENV = "WAVESCOPE_DAVIS2021"
DAVIS2021_CITATION = (
    "Davis ZW, Benigno GB, Fletterman C, et al. (2021) Spontaneous traveling waves naturally "
    "emerge from horizontal fiber time delays and travel through locally asynchronous-"
    "irregular states. Nat Commun 12:6057."
)


@dataclass(frozen=True)
class SpeedDensity:
    """A density of wave speeds on a grid.

    Attributes
    ----------
    speed : ndarray (n,)
        Speeds, m/s, increasing.
    density : ndarray (n,)
        Density over ``speed`` (normalised to integrate to 1), 1/(m/s).
    source : str
        File read.
    """

    speed: np.ndarray
    density: np.ndarray
    source: str

    def cdf(self, v=None) -> np.ndarray:
        """Cumulative distribution (trapezoid rule, 0 to 1) at speeds ``v`` (m/s), or at
        the grid ``speed`` when ``v`` is None."""
        c = np.concatenate(
            [[0.0], np.cumsum(np.diff(self.speed) * 0.5 * (self.density[1:] + self.density[:-1]))]
        )
        c = c / c[-1]
        if v is None:
            return c
        return np.interp(np.asarray(v, float), self.speed, c, left=0.0, right=1.0)

    def quantile(self, q) -> np.ndarray:
        """Speed (m/s) at cumulative probability ``q`` (linear interpolation of the CDF)."""
        return np.interp(np.asarray(q, float), self.cdf(), self.speed)

    @property
    def mode(self) -> float:
        """Most probable speed, m/s."""
        return float(self.speed[np.argmax(self.density)])

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` speeds (m/s) drawn from the density by inverse-CDF sampling."""
        return self.quantile(np.random.default_rng(seed).uniform(0.0, 1.0, int(n)))

    def summary(self) -> dict:
        """Mode, median and quartiles (m/s), for JSON."""
        q25, q50, q75 = self.quantile([0.25, 0.5, 0.75])
        return {
            "mode": self.mode,
            "median": float(q50),
            "q25": float(q25),
            "q75": float(q75),
            "unit": "m/s",
            "source": self.source,
            "citation": DAVIS2021_CITATION,
        }


def davis2021_path(path=None) -> Path:
    """The Davis 2021 data: ``path`` if given, else ``$WAVESCOPE_DAVIS2021``.

    Raises
    ------
    WaveFileNotFoundError
        Neither is given (the message names both).
    """
    if path is None:
        env = os.environ.get(DAVIS2021_ENV)
        if not env:
            raise WaveFileNotFoundError(
                "no Davis et al. 2021 data given: the data are not shipped with wavescope; "
                f"pass the path of your copy (CLI: --reference-speeds FILE) or set "
                f"{DAVIS2021_ENV} to it."
            )
        path = env
    return Path(path)


def reference_speeds_path(path=None) -> tuple[Path | None, str]:
    """Where an optional reference comes from: ``path`` if given, else
    ``$WAVESCOPE_DAVIS2021`` when set, else None; with a sentence saying which (for the
    terminal). Nothing else is searched.

    Returns
    -------
    (Path or None, str)
    """
    if path is not None:
        return Path(path), "given"
    env = os.environ.get(DAVIS2021_ENV)
    if env:
        return Path(env), f"from ${DAVIS2021_ENV}"
    return None, f"pass --reference-speeds PATH or set {DAVIS2021_ENV}=PATH"


def _resolve(path, pattern: str) -> Path:
    p = davis2021_path(path)
    if p.is_dir():
        hits = sorted(p.glob(pattern))
        if not hits:
            raise WaveFileNotFoundError(
                f"no file matching {pattern!r} in {p}; the Davis et al. 2021 data are not "
                "shipped with wavescope: pass the path of your copy."
            )
        p = hits[0]
    if not p.is_file():
        raise WaveFileNotFoundError(
            f"{p} does not exist; the Davis et al. 2021 data are not shipped with wavescope: "
            f"pass the path of your copy (or set {DAVIS2021_ENV})."
        )
    return p


def _loadmat(p: Path, keys: tuple[str, ...]) -> dict:
    from scipy.io import loadmat

    try:
        d = loadmat(p)
    except Exception as exc:  # scipy raises several types for corrupt files
        raise WaveInputError(
            f"could not read {p} as a MATLAB file ({type(exc).__name__}: {exc}); is it "
            "corrupt or a Git LFS pointer? Fetch the file again."
        ) from None
    missing = [k for k in keys if k not in d]
    if missing:
        found = sorted(k for k in d if not k.startswith("__"))
        raise WaveInputError(f"{p} lacks the variable(s) {missing}; it holds {found}.")
    return d


def read_davis2021_speeds(path=None) -> SpeedDensity:
    """The density of wave speeds in marmoset MT (Davis et al. 2021, figure 6).

    Parameters
    ----------
    path : path, optional
        The ``*speed_density*.mat`` file, or a folder holding it. Default: the
        environment variable ``WAVESCOPE_DAVIS2021``.

    Returns
    -------
    SpeedDensity
        ``speed`` (2000,) m/s and ``density`` normalised to unit area.

    Raises
    ------
    WaveInputError
        If the file is absent, unreadable, lacks ``speed_range``/``k``, or they do not
        form a valid density (same length, increasing speeds, non-negative values).
    """
    p = _resolve(path, "*speed_density*.mat")
    d = _loadmat(p, ("speed_range", "k"))
    speed = np.asarray(d["speed_range"], float).ravel()
    k = np.asarray(d["k"], float).ravel()
    if speed.shape != k.shape or speed.size < 2:
        raise WaveInputError(f"{p}: speed_range {speed.shape} and k {k.shape} must match.")
    if not (np.all(np.isfinite(speed)) and np.all(np.isfinite(k))):
        raise WaveInputError(f"{p}: speed_range and k must be finite.")
    if np.any(np.diff(speed) <= 0) or np.any(k < 0) or not np.any(k > 0):
        raise WaveInputError(f"{p}: speed_range must increase and k be a non-negative density.")
    area = float(np.sum(np.diff(speed) * 0.5 * (k[1:] + k[:-1])))
    return SpeedDensity(speed=speed, density=k / area, source=str(p))


def read_davis2021_wavelengths(path=None) -> np.ndarray:
    """Measured wave wavelengths in marmoset MT (Davis et al. 2021), metres.

    Parameters
    ----------
    path : path, optional
        The ``ell_*.mat`` file, or a folder holding it. Default: the environment variable
        ``WAVESCOPE_DAVIS2021``.

    Returns
    -------
    ell : ndarray (n,)
        Finite, positive wavelengths in m.
    """
    p = _resolve(path, "ell_*.mat")
    ell = np.asarray(_loadmat(p, ("ell",))["ell"], float).ravel()
    ell = ell[np.isfinite(ell) & (ell > 0)]
    if ell.size == 0:
        raise WaveInputError(f"{p}: ell holds no finite positive wavelength.")
    return ell
