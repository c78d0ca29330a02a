"""The documented widefield preprocessing of a whole stack, written out step by step.

The reference the chunked readers (:func:`wavescope.io.frames_to_field`) are checked
against: dF/F against each pixel's temporal mean, a least-squares linear detrend of each
pixel, then the mean of every ``bin_factor x bin_factor`` block that lies fully inside
the mask (blocks counted from the mask's first row and column), all in float64 on the
whole stack in memory, pixel by pixel and block by block: none of the reader's
chunking, sparse binning matrix or detrend-after-binning.
"""

from __future__ import annotations

import numpy as np

from wavescope import WaveField


def widefield_reference(frames, fs: float, pixel: float, *, mask=None, bin_factor: int = 2):
    """A grid WaveField of the preprocessed stack ``frames`` (time, rows, cols).

    Sites and names as the readers order them: without binning the masked pixels in
    row-major order, named ``r{row}c{col}``; with binning the blocks ordered by block
    column then block row, named ``b{block_row}_{block_col}``, at the block centres.
    """
    x = np.asarray(frames, np.float64)
    n_t, n_r, n_c = x.shape
    mask = np.ones((n_r, n_c), bool) if mask is None else np.asarray(mask, bool)
    f0 = x.mean(axis=0)
    dff = (x - f0) / f0
    t = np.column_stack([np.arange(n_t), np.ones(n_t)])
    coef = np.linalg.lstsq(t, dff.reshape(n_t, -1), rcond=None)[0]
    dff = dff - (t @ coef).reshape(x.shape)
    rows, cols = np.nonzero(mask)
    data, pos, names = [], [], []
    if bin_factor == 1:
        for r, c in zip(rows, cols):
            data.append(dff[:, r, c])
            pos.append((c * pixel, r * pixel))
            names.append(f"r{r}c{c}")
    else:
        k, r0, c0 = bin_factor, rows.min(), cols.min()
        for bc in range((cols.max() - c0) // k + 1):
            for br in range((rows.max() - r0) // k + 1):
                rs = slice(r0 + br * k, r0 + (br + 1) * k)
                cs = slice(c0 + bc * k, c0 + (bc + 1) * k)
                if mask[rs, cs].size == k * k and mask[rs, cs].all():
                    data.append(dff[:, rs, cs].mean(axis=(1, 2)))
                    centre = (k - 1) / 2
                    pos.append(((c0 + bc * k + centre) * pixel, (r0 + br * k + centre) * pixel))
                    names.append(f"b{br}_{bc}")
    return WaveField(np.array(data), fs, np.array(pos), "m", "s", tuple(names))
