"""Wave properties of many recordings in one tidy table, dimensionless where possible.

Cortex is measured in metres and seconds, a model's hidden state in sites and steps: raw
speeds (m/s against sites/step) cannot be compared. :func:`wave_properties` therefore
reports, for every recording, properties without units next to the raw ones:

================================  ==============  ===========================================
column                            unit            definition
================================  ==============  ===========================================
``pgd_median/q25/q75/mean``       1               PGD over the valid samples
``wave_fraction``                 1               fraction of valid samples inside wave epochs
``direction_concentration``       1               resultant length of the directions
``direction_mean``                rad             circular mean direction (CCW from +x)
``wavelength_per_extent``         1               median wavelength / array extent
``speed_sites_per_cycle``         sites/cycle     median of ``speed / (spacing * frequency)``
``speed_median/q25/q75``          space/time      raw phase speed (``VelocityResult.speed``)
``wavelength_median``             space unit      raw wavelength
``frequency_median``              1/time unit     amplitude-weighted instantaneous frequency
``spacing``, ``extent``           space unit      median nearest-neighbour distance; largest
                                                  distance between good sites
``duration``                      time unit       length of the record
================================  ==============  ===========================================

Every property ``X`` has a unit column ``X_unit``. ``speed_sites_per_cycle`` is the
distance, in sites, a wave crest travels in one oscillation period (for the phase
methods it equals the wavelength in sites, since ``speed / frequency = wavelength``); for
the broadband methods, which have no instantaneous frequency, the period is the
characteristic time ``1 / f_c`` with ``f_c`` the geometric centre of the analysis band
(the dominant band of the record unless ``band`` is given).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.spatial import cKDTree

from wavescope.core.circular import circ_mean, resultant_length
from wavescope.core.errors import WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.units import SPACE_UNITS, TIME_UNITS, space_scale, speed_unit
from wavescope.core.validate import WaveInputError, check_option
from wavescope.waves.velocity import VelocityResult, measure_velocity

__all__ = ["DIMENSIONLESS", "RAW", "check_same_unit", "site_spacing", "wave_properties"]

#: Dimensionless properties (comparable across cortex and models), with their units.
DIMENSIONLESS = {
    "pgd_median": "1",
    "pgd_q25": "1",
    "pgd_q75": "1",
    "pgd_mean": "1",
    "wave_fraction": "1",
    "direction_concentration": "1",
    "direction_mean": "rad",
    "wavelength_per_extent": "1",
    "speed_sites_per_cycle": "sites/cycle",
}
#: Raw properties; their unit depends on the recording (``"speed"``, ``"space"``, ...).
RAW = {
    "speed_median": "speed",
    "speed_q25": "speed",
    "speed_q75": "speed",
    "wavelength_median": "space",
    "frequency_median": "frequency",
    "spacing": "space",
    "extent": "space",
    "duration": "time",
}


def site_spacing(field: WaveField) -> float:
    """Median distance from each good site to its nearest good neighbour, ``space_unit``."""
    p = field.positions[field.good]
    if len(p) < 2:
        raise WaveInputError("a spacing needs at least 2 good sites.")
    d, _ = cKDTree(p).query(p, k=2)
    return float(np.median(d[:, 1]))


def _items(inputs, groups, names, subjects):
    """Normalise the inputs to a list of (group, name, subject, item)."""
    if isinstance(inputs, Mapping):
        if groups is not None:
            raise WaveInputError("pass groups either as the keys of a mapping or as groups=.")
        seq, grp = [], []
        for g, items in inputs.items():
            items = [items] if _is_item(items) else list(items)
            seq += items
            grp += [str(g)] * len(items)
    else:
        seq = [inputs] if _is_item(inputs) else list(inputs)
        if groups is None:
            grp = ["all"] * len(seq)
        elif isinstance(groups, str):
            grp = [groups] * len(seq)
        else:
            grp = [str(g) for g in groups]
    if not seq:
        raise WaveInputError("no recordings given: pass WaveFields or (VelocityResult, field).")
    if len(grp) != len(seq):
        raise WaveInputError(f"groups has {len(grp)} labels for {len(seq)} recordings.")
    for lab, seqn in (("names", names), ("subjects", subjects)):
        if seqn is not None and len(seqn) != len(seq):
            raise WaveInputError(f"{lab} has {len(seqn)} entries for {len(seq)} recordings.")
    out, count = [], {}
    for i, (g, it) in enumerate(zip(grp, seq)):
        res, fld = _split(it, i)
        count[g] = count.get(g, 0) + 1
        name = (
            str(names[i]) if names is not None else str(fld.meta.get("name", f"{g}-{count[g] - 1}"))
        )
        subj = str(subjects[i]) if subjects is not None else str(fld.meta.get("subject", name))
        out.append((g, name, subj, res, fld))
    return out


def _is_item(x) -> bool:
    return isinstance(x, WaveField) or (
        isinstance(x, tuple) and len(x) == 2 and any(isinstance(v, VelocityResult) for v in x)
    )


def _split(item, i):
    if isinstance(item, WaveField):
        return None, item
    if isinstance(item, tuple) and len(item) == 2:
        a, b = item
        if isinstance(a, VelocityResult) and isinstance(b, WaveField):
            return a, b
        if isinstance(b, VelocityResult) and isinstance(a, WaveField):
            return b, a
    raise WaveTypeError(
        f"recording {i} is a {type(item).__name__}; give a WaveField or a "
        "(VelocityResult, WaveField) pair (the field supplies positions for the extent)."
    )


def _q(x, q):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.quantile(x, q)) if x.size else np.nan


def _row(res: VelocityResult, fld: WaveField, samples: str) -> dict:
    valid = res.valid
    if samples == "waves" and not np.isfinite(res.threshold):
        raise WaveInputError(
            "samples='waves' needs wave epochs, but this result has none computed: "
            "measure with n_surrogates > 0 (e.g. n_surrogates=10)."
        )
    sel = valid & res.wave if samples == "waves" else valid
    spacing = site_spacing(fld)
    extent = fld.extent
    pgd = res.pgd[valid]
    n_valid = int(valid.sum())
    if res.broadband is not None and res.method in ("event-time", "xcorr", "komega"):
        sp = np.asarray(res.broadband.speeds, float)
        dirs = np.asarray(res.broadband.directions, float)
        f_c = float(np.sqrt(res.band[0] * res.band[1])) if res.band[0] > 0 else np.mean(res.band)
        per_cycle = sp / (spacing * f_c)
    else:
        sp = res.speed[sel]
        dirs = res.direction[sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_cycle = sp / (spacing * np.abs(res.frequency[sel]))
    wl = res.wavelength[sel]
    dirs = dirs[np.isfinite(dirs)]
    wave_fraction = (
        float(np.sum(res.wave & valid) / max(n_valid, 1)) if np.isfinite(res.threshold) else np.nan
    )
    row = {
        "method": res.method,
        "samples": samples,
        "n_samples": int(sel.sum()),
        "n_sites": res.n_good,
        "space_unit": res.space_unit,
        "time_unit": res.time_unit,
        "pgd_median": _q(pgd, 0.5),
        "pgd_q25": _q(pgd, 0.25),
        "pgd_q75": _q(pgd, 0.75),
        "pgd_mean": float(np.mean(pgd)) if pgd.size else np.nan,
        "wave_fraction": wave_fraction,
        "direction_concentration": float(resultant_length(dirs)) if dirs.size else np.nan,
        "direction_mean": float(circ_mean(dirs)) if dirs.size else np.nan,
        "wavelength_per_extent": _q(wl, 0.5) / extent if extent > 0 else np.nan,
        "speed_sites_per_cycle": _q(per_cycle, 0.5),
        "speed_median": _q(sp, 0.5),
        "speed_q25": _q(sp, 0.25),
        "speed_q75": _q(sp, 0.75),
        "wavelength_median": _q(wl, 0.5),
        "frequency_median": _q(res.frequency[sel], 0.5),
        "spacing": spacing,
        "extent": extent,
        "duration": float(fld.duration),
    }
    return row


def _time_scale(from_unit: str, to_unit: str) -> float:
    a, b = TIME_UNITS[from_unit], TIME_UNITS[to_unit]
    if from_unit == to_unit:
        return 1.0
    if a is None or b is None:
        raise WaveInputError(f"cannot convert between {from_unit!r} and {to_unit!r}.")
    return a / b


def _convertible(u1, u2, table) -> bool:
    return u1 == u2 or (table[u1] is not None and table[u2] is not None)


def wave_properties(
    inputs,
    groups=None,
    *,
    names=None,
    subjects=None,
    samples: str = "all",
    dimensionless: bool = False,
    **measure_kwargs,
):
    """Measure wave properties of any number of recordings and tabulate them by group.

    Parameters
    ----------
    inputs : WaveField, (VelocityResult, WaveField), a sequence of them, or a mapping
        ``{group: [recordings]}``. Fields are measured with
        :func:`~wavescope.waves.measure_velocity` (``**measure_kwargs`` passed on, e.g.
        ``band=(8, 12)``, ``n_surrogates=10``); precomputed results are used as they are
        with their field (which supplies the positions for spacing and extent).
    groups : sequence of str or str, optional
        Group label per recording (when ``inputs`` is a sequence); default ``"all"``.
    names, subjects : sequence of str, optional
        Name and subject (animal, seed) per recording; default ``field.meta["name"]``
        (else ``"<group>-<i>"``) and ``field.meta["subject"]`` (else the name). The
        subject column is what :func:`~wavescope.stats.tests.mixed_effects` groups by.
    samples : {"all", "waves"}
        Samples whose speeds, directions and wavelengths are summarised: all valid
        samples, or only those inside wave epochs (needs ``n_surrogates > 0``). PGD and
        the wave fraction always use all valid samples.
    dimensionless : bool
        Return only the dimensionless properties. Required when the recordings have
        units that cannot be converted into each other (sites/step against m/s);
        physical units that can (mm and m, ms and s) are converted to those of the
        first recording.

    Returns
    -------
    pandas.DataFrame
        One row per recording: ``group``, ``name``, ``subject``, ``method``,
        ``samples``, ``n_samples``, ``n_sites``, ``space_unit``, ``time_unit``, then each
        property (see the module docstring) followed by its ``<property>_unit`` column.
        ``df.to_dict("records")`` gives JSON-ready rows. A property that cannot be
        measured (e.g. the wave fraction without surrogates, or wave-sample speeds of a
        record with no wave) is NaN.

    Raises
    ------
    WaveInputError
        For recordings with mutually inconvertible units unless ``dimensionless=True``.

    Examples
    --------
    >>> table = wave_properties(  # doctest: +SKIP
    ...     {"cortex": [rec1, rec2], "mamba": [states1, states2]},
    ...     dimensionless=True, n_surrogates=10)
    >>> table.groupby("group")["speed_sites_per_cycle"].median()  # doctest: +SKIP
    """
    import pandas as pd

    check_option("samples", samples, ("all", "waves"))
    items = _items(inputs, groups, names, subjects)
    su = [f.space_unit for _, _, _, _, f in items]
    tu = [f.time_unit for _, _, _, _, f in items]
    s0, t0 = su[0], tu[0]
    mixed = [
        (n, speed_unit(s, t))
        for (_, n, _, _, _), s, t in zip(items, su, tu)
        if not (_convertible(s, s0, SPACE_UNITS) and _convertible(t, t0, TIME_UNITS))
    ]
    if mixed and not dimensionless:
        raise WaveInputError(
            f"recordings have units that cannot be compared: {items[0][1]!r} is in "
            f"{speed_unit(s0, t0)} but {mixed[0][0]!r} is in {mixed[0][1]}. Raw speeds, "
            "wavelengths and frequencies are not comparable across them; pass "
            "dimensionless=True to tabulate only the dimensionless properties."
        )
    rows = []
    for g, name, subj, res, fld in items:
        if res is None:
            res = measure_velocity(fld, **measure_kwargs)
        r = _row(res, fld, samples)
        row = {"group": g, "name": name, "subject": subj}
        row.update({k: r[k] for k in ("method", "samples", "n_samples", "n_sites")})
        row.update({"space_unit": r["space_unit"], "time_unit": r["time_unit"]})
        for k, unit in DIMENSIONLESS.items():
            row[k], row[k + "_unit"] = r[k], unit
        if not dimensionless:
            ks = space_scale(r["space_unit"], s0)
            kt = _time_scale(r["time_unit"], t0)
            scale = {"speed": ks / kt, "space": ks, "frequency": kt, "time": 1 / kt}
            units = {
                "speed": speed_unit(s0, t0),
                "space": s0,
                "frequency": f"1/{t0}",
                "time": t0,
            }
            for k, kind in RAW.items():
                row[k], row[k + "_unit"] = r[k] * scale[kind], units[kind]
        rows.append(row)
    return pd.DataFrame(rows)


def check_same_unit(table, prop: str) -> str:
    """Return the unit of ``prop`` in a property table, raising if rows disagree.

    Use before comparing a raw property across groups.
    """
    col = prop + "_unit"
    if col not in getattr(table, "columns", table):
        raise WaveInputError(f"the table has no unit column {col!r} for property {prop!r}.")
    units = sorted({str(u) for u in np.asarray(table[col])})
    if len(units) != 1:
        raise WaveInputError(
            f"{prop!r} comes in several units {units}: compare a dimensionless property "
            "instead (see wavescope.stats.properties.DIMENSIONLESS)."
        )
    return units[0]
