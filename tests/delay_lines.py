"""Known-truth states for memory-curve tests: shift registers of one-hot tokens."""

import numpy as np


def token_delay_line(n_seq, n_steps, n_sites, vocab, seed=0):
    """Shift register: site i holds the one-hot code of u[t - i] (zeros before the start),
    so its memory horizon is exactly ``n_sites``.

    Returns states (n_seq, n_steps, n_sites * vocab) and tokens (n_seq, n_steps).
    """
    rng = np.random.default_rng(seed)
    u = rng.integers(0, vocab, size=(n_seq, n_steps))
    onehot = np.eye(vocab)[u]
    states = np.zeros((n_seq, n_steps, n_sites * vocab))
    for i in range(n_sites):
        states[:, i:, i * vocab : (i + 1) * vocab] = onehot[:, : n_steps - i]
    return states, u
