"""``picks`` for inputs without channel types: one contract for every reader.

Every input has channel names (a :class:`~wavescope.core.field.WaveField` carries one per
site), so ``picks`` given as channel names or indices selects sites everywhere. Channel
*types* (``"ecog"``, ``"seeg"``, ...) exist only where the format records them (MNE files
and objects, BIDS); there MNE applies the picks, in :func:`wavescope.io.from_mne`. On
any other input a type is refused with one message, never ignored and never taken for a
missing channel name.
"""

from __future__ import annotations

import numbers
from dataclasses import replace

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, unknown_names_message

__all__ = ["CHANNEL_TYPES", "pick_sites"]

#: MNE's channel types (``mne.io.get_channel_type_constants()``, MNE 1.x), listed here so
#: that refusing a type on an input without types does not import MNE.
CHANNEL_TYPES = frozenset(
    "bio chpi csd dbs dipole ecg ecog eeg emg eog exci eyegaze fnirs_cw_amplitude "
    "fnirs_fd_ac_amplitude fnirs_fd_phase fnirs_od fnirs_td_gated_amplitude "
    "fnirs_td_moments_intensity fnirs_td_moments_mean fnirs_td_moments_variance gof grad "
    "gsr hbo hbr ias mag misc pupil ref_meg resp seeg stim syst temperature".split()
)


def _site_index(field: WaveField, pick, fmt: str) -> int:
    if isinstance(pick, numbers.Integral) and not isinstance(pick, bool):
        if not -field.n_sites <= int(pick) < field.n_sites:
            raise WaveInputError(
                f"picks: index {int(pick)} is out of range; the {fmt} input has "
                f"{field.n_sites} channels (0 to {field.n_sites - 1})."
            )
        return int(pick) % field.n_sites
    if not isinstance(pick, str):
        raise WaveInputError(
            f"picks: {pick!r} ({type(pick).__name__}) is neither a channel name nor an "
            "index; give channel names (str) or indices (int)."
        )
    if pick in field.ch_names:
        return field.ch_names.index(pick)
    if pick in CHANNEL_TYPES:
        raise WaveInputError(
            f"picks={pick!r} is a channel type, and a {fmt} input records no channel "
            "types (only MNE files and objects and BIDS do): pick its channels by name or "
            "index, or drop picks and mark channels bad instead (bad=, CLI: --bad)."
        )
    raise WaveInputError(unknown_names_message("channel(s) in picks", [pick], field.ch_names))


def pick_sites(field: WaveField, picks, fmt: str) -> WaveField:
    """``field`` restricted to ``picks``, in the order given.

    Parameters
    ----------
    field : WaveField
        A recording as its reader returned it.
    picks : str, int, or sequence of str / int, or None
        Channel names or indices (None: every site).
    fmt : str
        The input kind (a key of :data:`wavescope.io.recording.FORMAT_OPTIONS`), named in
        the messages.

    Returns
    -------
    WaveField
        The picked sites with their positions, names and bad flags; ``meta["picks"]``
        records the picks, as :func:`~wavescope.io.from_mne` does.

    Raises
    ------
    WaveInputError
        For a channel type (this input has none), an unknown name, an index out of
        range, a site picked twice or picks that select nothing.
    """
    if picks is None:
        return field
    as_list = [picks] if isinstance(picks, (str, numbers.Integral)) else list(picks)
    if not as_list:
        raise WaveInputError("picks=[] selects no channel; give names or indices, or None.")
    idx = [_site_index(field, p, fmt) for p in as_list]
    if len(set(idx)) < len(idx):
        twice = sorted({field.ch_names[i] for i in idx if idx.count(i) > 1})
        raise WaveInputError(f"picks selects channel(s) {twice} more than once; give each once.")
    picked = field.pick(np.asarray(idx))
    return replace(picked, meta={**field.meta, "picks": [field.ch_names[i] for i in idx]})
