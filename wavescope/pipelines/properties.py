"""The property table of many recordings: measure (where needed), then one row each.

:func:`wave_properties` measures each field with
:func:`~wavescope.waves.velocity.measure_velocity` (or takes results already measured)
and tabulates :func:`~wavescope.waves.properties.recording_properties` by group, with a
unit column per property; units that convert into each other are converted to those of
the first recording (see :data:`wavescope.core.properties.PROPERTIES` for every column).
"""

from __future__ import annotations

from collections.abc import Mapping

from wavescope.core.errors import WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.properties import DIMENSIONLESS, RAW
from wavescope.core.units import space_scale, speed_unit, time_scale, unit_class
from wavescope.core.validate import WaveInputError, check_option
from wavescope.waves.properties import recording_properties
from wavescope.waves.velocity import VelocityResult, measure_velocity

__all__ = ["wave_properties"]


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


def wave_properties(
    inputs,
    groups=None,
    *,
    names=None,
    subjects=None,
    samples: str = "auto",
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
    samples : {"auto", "all", "waves"}
        Samples whose speeds, directions and wavelengths are summarised: only those
        inside wave epochs (needs ``n_surrogates > 0``), all valid samples, or
        ``"auto"`` (default): wave epochs when they were computed. PGD and the wave
        fraction always use all valid samples.
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
        property (see the module docstring) followed by its ``<property>_unit`` column,
        and ``undefined`` (each NaN property with its reason, ``"name: reason; ..."``).
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

    check_option("samples", samples, ("auto", "all", "waves"))
    items = _items(inputs, groups, names, subjects)
    su = [f.space_unit for _, _, _, _, f in items]
    tu = [f.time_unit for _, _, _, _, f in items]
    s0, t0 = su[0], tu[0]
    mixed = [
        (n, speed_unit(s, t))
        for (_, n, _, _, _), s, t in zip(items, su, tu)
        if unit_class(s, t) != unit_class(s0, t0)
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
        r = recording_properties(res, samples)
        row = {"group": g, "name": name, "subject": subj}
        row.update({k: r[k] for k in ("method", "samples", "n_samples", "n_sites", "n_dims")})
        row.update({"space_unit": r["space_unit"], "time_unit": r["time_unit"]})
        for k, unit in DIMENSIONLESS.items():
            row[k], row[k + "_unit"] = r[k], unit
        if not dimensionless:
            ks = space_scale(r["space_unit"], s0)
            kt = time_scale(r["time_unit"], t0)
            scale = {"speed": ks / kt, "space": ks, "frequency": kt, "time": 1 / kt}
            units = {
                "speed": speed_unit(s0, t0),
                "space": s0,
                "frequency": f"1/{t0}",
                "time": t0,
            }
            for k, kind in RAW.items():
                row[k], row[k + "_unit"] = r[k] * scale[kind], units[kind]
        row["undefined"] = r["undefined"]  # each NaN property with its reason
        rows.append(row)
    return pd.DataFrame(rows)
