"""The copy task of Jelassi et al. 2024 ("Repeat after me") as a library.

An example is ``BOS s SEP s EOS`` where ``s`` is a string of letters drawn uniformly from
a 26-letter alphabet, its length uniform in ``[min_len, max_len]``. A model reads the
tokens left to right and predicts the next one; the loss and the metrics cover only the
copied part and the final ``EOS`` (the first ``s`` is random and cannot be predicted).
Several examples are packed into one context of fixed length (or one example per row,
padded, with ``packed=False``).

Token ids::

    PAD = 0, BOS = 1, SEP = 2, EOS = 3, letters "a".."z" = 4..29   (VOCAB_SIZE = 30)

Layout of one example of length n starting at position p of the token buffer
(``tokens = buf[:-1]``, ``targets = buf[1:]``)::

    buf:     p    p+1 .. p+n   p+n+1   p+n+2 .. p+2n+1   p+2n+2
             BOS  s_1 .. s_n   SEP     s_1   .. s_n      EOS
    mask (on targets, i.e. the position that predicts buf[t+1]): t = p+n+1 .. p+2n+1

Evaluation comes in two kinds: teacher-forced argmax (the paper's, every copied token
predicted from the true prefix) and true autoregressive greedy generation after ``SEP``
until ``EOS`` or ``n + 1`` tokens. Metrics are exact-string accuracy (every masked token
of the example right) and character accuracy (fraction of masked tokens right, ``EOS``
included).

References
----------
Jelassi, Brandfonbrener, Kakade & Malach (2024). Repeat after me: transformers are better
than state space models at copying. ICML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from wavescope.core.validate import WaveInputError

PAD = 0
BOS = 1
SEP = 2
EOS = 3
FIRST_LETTER = 4
N_LETTERS = 26
VOCAB_SIZE = FIRST_LETTER + N_LETTERS  # 30
LETTERS = "abcdefghijklmnopqrstuvwxyz"
_SPECIAL_NAMES = {PAD: "_", BOS: "<", SEP: "|", EOS: ">"}


def encode(s: str) -> np.ndarray:
    """Letter ids of a lower-case string ``s`` (no special tokens), shape (len(s),)."""
    try:
        return np.array([FIRST_LETTER + LETTERS.index(c) for c in s], dtype=np.int64)
    except ValueError:
        raise WaveInputError(f"copy strings use only the letters a-z, got {s!r}.") from None


def decode(ids) -> str:
    """Readable text of token ids: letters as themselves, PAD/BOS/SEP/EOS as ``_ < | >``."""
    out = []
    for t in np.asarray(ids).ravel().tolist():
        out.append(LETTERS[t - FIRST_LETTER] if t >= FIRST_LETTER else _SPECIAL_NAMES[t])
    return "".join(out)


def example_tokens(s) -> np.ndarray:
    """Tokens of one example ``BOS s SEP s EOS`` for letter ids ``s``, shape (2n + 3,)."""
    s = np.asarray(s, dtype=np.int64)
    return np.concatenate([[BOS], s, [SEP], s, [EOS]]).astype(np.int64)


@dataclass
class CopyBatch:
    """One batch of copy examples (numpy arrays).

    Attributes
    ----------
    tokens : ndarray of int64, shape (B, T)
        Model input.
    targets : ndarray of int64, shape (B, T)
        Next token at every position (``tokens`` shifted left by one).
    loss_mask : ndarray of bool, shape (B, T)
        True where the target is a copied letter or the closing EOS.
    example : ndarray of int64, shape (B, T)
        Index of the example (0 .. n_examples - 1, unique over the batch) that each masked
        position belongs to; -1 elsewhere. Exact-string accuracy groups by it.
    lengths : ndarray of int64, shape (n_examples,)
        String length of each example.
    """

    tokens: np.ndarray
    targets: np.ndarray
    loss_mask: np.ndarray
    example: np.ndarray
    lengths: np.ndarray

    @property
    def n_examples(self) -> int:
        return int(self.lengths.shape[0])

    def to_torch(self, device="cpu") -> dict:
        """Tensors on ``device``: tokens, targets (int64), loss_mask (bool), example (int64)."""
        return {
            "tokens": torch.from_numpy(self.tokens).to(device),
            "targets": torch.from_numpy(self.targets).to(device),
            "loss_mask": torch.from_numpy(self.loss_mask).to(device),
            "example": torch.from_numpy(self.example).to(device),
        }


def assemble_batch(rows: Sequence[Sequence[np.ndarray]], context_len: int) -> CopyBatch:
    """Lay out examples into rows of a fixed context.

    Parameters
    ----------
    rows : list of list of ndarray
        ``rows[b]`` lists the letter-id strings of the examples packed into row ``b``, in
        order. Their tokens (``2n + 3`` each) must fit the buffer of ``context_len + 1``.
    context_len : int
        Number of input tokens per row, T.

    Returns
    -------
    CopyBatch
        Rows padded with PAD after the last example.
    """
    B, T = len(rows), int(context_len)
    buf = np.full((B, T + 1), PAD, dtype=np.int64)
    mask = np.zeros((B, T), dtype=bool)
    example = np.full((B, T), -1, dtype=np.int64)
    lengths = []
    for b, strings in enumerate(rows):
        pos = 0
        for s in strings:
            n = len(s)
            ex = example_tokens(s)
            if pos + ex.size > T + 1:
                raise WaveInputError(
                    f"examples of row {b} need {pos + ex.size} tokens but the context holds "
                    f"{T + 1} (context_len={T} inputs + 1 target); use a longer context_len."
                )
            buf[b, pos : pos + ex.size] = ex
            sl = slice(pos + n + 1, pos + 2 * n + 2)  # targets s_1..s_n, EOS
            mask[b, sl] = True
            example[b, sl] = len(lengths)
            lengths.append(n)
            pos += ex.size
    return CopyBatch(
        tokens=buf[:, :-1].copy(),
        targets=buf[:, 1:].copy(),
        loss_mask=mask,
        example=example,
        lengths=np.asarray(lengths, dtype=np.int64),
    )


def min_context_len(max_len: int) -> int:
    """Fewest input tokens that hold one example of length ``max_len``: ``2 max_len + 2``."""
    return 2 * int(max_len) + 2


class CopyTask:
    """Seeded generator of copy-task batches.

    Parameters
    ----------
    min_len, max_len : int
        String lengths are uniform on ``[min_len, max_len]`` (inclusive); paper default 5-20.
    context_len : int, optional
        Input tokens per row, T. Default: ``2 max_len + 2`` (one longest example) when
        unpacked, ``2 (2 max_len + 3) - 1`` (two longest examples) when packed.
    seed : int
        Non-negative seed. Batch ``i`` is drawn from ``numpy.random.default_rng([seed, i])``,
        so the stream is reproducible and resumable from the batch counter alone.
    packed : bool
        Pack as many examples per row as fit (True, the paper's setting) or one example
        per row padded with PAD (False).

    Examples
    --------
    >>> task = CopyTask(5, 20, seed=0)
    >>> b = task.batch(8)
    >>> b.tokens.shape == b.targets.shape == b.loss_mask.shape
    True
    """

    def __init__(self, min_len=5, max_len=20, context_len=None, seed=0, packed=True):
        try:
            min_len, max_len, seed = int(min_len), int(max_len), int(seed)
        except (TypeError, ValueError):
            raise WaveInputError(
                f"min_len, max_len and seed must be integers, got {min_len!r}, {max_len!r}, "
                f"{seed!r}."
            ) from None
        if not 1 <= min_len <= max_len:
            raise WaveInputError(
                f"need 1 <= min_len <= max_len for the copy lengths, got min_len={min_len}, "
                f"max_len={max_len}."
            )
        if seed < 0:
            raise WaveInputError(f"seed must be >= 0, got {seed}.")
        if context_len is None:
            context_len = 2 * (2 * max_len + 3) - 1 if packed else min_context_len(max_len)
        context_len = int(context_len)
        if context_len < min_context_len(max_len):
            raise WaveInputError(
                f"context_len={context_len} cannot hold a copy example of length {max_len} "
                f"(needs {min_context_len(max_len)} tokens: BOS s SEP s, EOS as last target); "
                "raise context_len or lower max_len."
            )
        self.min_len, self.max_len = min_len, max_len
        self.context_len, self.seed, self.packed = context_len, seed, bool(packed)
        self.n_batches = 0

    # -- state ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Parameters (JSON-able) that rebuild this task with :meth:`from_dict`."""
        return {
            "name": "copy",
            "min_len": self.min_len,
            "max_len": self.max_len,
            "context_len": self.context_len,
            "seed": self.seed,
            "packed": self.packed,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CopyTask:
        d = {k: v for k, v in d.items() if k != "name"}
        return cls(**d)

    def state_dict(self) -> dict:
        return {"n_batches": self.n_batches}

    def load_state_dict(self, state: dict) -> None:
        self.n_batches = int(state["n_batches"])

    # -- data ----------------------------------------------------------------------------
    def _draw_row(self, rng: np.random.Generator) -> list[np.ndarray]:
        budget = self.context_len + 1
        strings, used = [], 0
        while True:
            n = int(rng.integers(self.min_len, self.max_len + 1))
            if used + 2 * n + 3 > budget:
                break
            strings.append(rng.integers(FIRST_LETTER, VOCAB_SIZE, size=n))
            used += 2 * n + 3
            if not self.packed:
                break
        return strings

    def batch(self, batch_size: int) -> CopyBatch:
        """Draw the next batch of ``batch_size`` rows (advances the batch counter)."""
        batch_size = int(batch_size)
        if batch_size < 1:
            raise WaveInputError(f"batch_size must be >= 1, got {batch_size}.")
        rng = np.random.default_rng([self.seed, self.n_batches])
        self.n_batches += 1
        rows = [self._draw_row(rng) for _ in range(batch_size)]
        return assemble_batch(rows, self.context_len)


def fixed_length_batch(length: int, n_examples: int, seed: int = 0) -> CopyBatch:
    """``n_examples`` unpacked rows, each one example of exactly ``length`` letters.

    The context is the shortest that holds it, ``2 length + 2`` tokens, so a model is asked
    for no more than it must read (used for length generalisation).
    """
    length, n_examples = int(length), int(n_examples)
    if length < 1 or n_examples < 1:
        raise WaveInputError(f"need length >= 1 and n_examples >= 1, got {length}, {n_examples}.")
    rng = np.random.default_rng([int(seed), length])
    strings = rng.integers(FIRST_LETTER, VOCAB_SIZE, size=(n_examples, length))
    return assemble_batch([[s] for s in strings], min_context_len(length))


# -- metrics --------------------------------------------------------------------------------
def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def copy_accuracy(pred, batch: CopyBatch) -> dict:
    """Exact-string and character accuracy of next-token predictions.

    Parameters
    ----------
    pred : array or tensor of int, shape (B, T)
        Predicted next token at every position (e.g. argmax of the logits).
    batch : CopyBatch
        The batch the predictions were made on.

    Returns
    -------
    dict
        ``char_acc``: fraction of masked positions (copied letters and EOS) predicted right;
        ``exact_acc``: fraction of examples with every masked position right;
        ``n_examples``, ``n_tokens``: the counts they are computed over.
    """
    pred = _np(pred)
    if pred.shape != batch.targets.shape:
        raise WaveInputError(
            f"pred must have the batch's shape {batch.targets.shape}, got {pred.shape}."
        )
    mask = batch.loss_mask
    right = (pred == batch.targets) & mask
    n_tokens = int(mask.sum())
    wrong_per_example = np.bincount(batch.example[mask & ~right], minlength=batch.n_examples)
    return {
        "char_acc": float(right.sum() / max(n_tokens, 1)),
        "exact_acc": float(np.mean(wrong_per_example == 0)) if batch.n_examples else 0.0,
        "n_examples": batch.n_examples,
        "n_tokens": n_tokens,
    }


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
    """Mean cross-entropy over masked positions.

    logits : (B, T, V) ; targets : (B, T) int64 ; mask : (B, T) bool. Returns a 0-d tensor.
    """
    # logits : (B, T, V) -> (B*T, V)
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none"
    )
    m = mask.reshape(-1).to(losses.dtype)
    return (losses * m).sum() / m.sum().clamp_min(1.0)


# -- evaluation -----------------------------------------------------------------------------
Model = Callable[[torch.Tensor], torch.Tensor]  # tokens (B, T) -> logits (B, T, V)


def _check_fits(model, n_tokens: int, what: str) -> None:
    max_len = getattr(model, "max_len", None)
    if max_len is not None and n_tokens > max_len:
        raise WaveInputError(
            f"{what} needs {n_tokens} tokens but the model accepts at most max_len={max_len}; "
            "evaluate shorter strings or build the model with a larger max_len."
        )


@torch.no_grad()
def evaluate_teacher_forced(model: Model, batch: CopyBatch, device="cpu") -> dict:
    """Teacher-forced argmax evaluation (the paper's): metrics of :func:`copy_accuracy`
    plus ``loss``, the masked cross-entropy in nats per token."""
    _check_fits(model, batch.tokens.shape[1], "teacher-forced evaluation")
    t = batch.to_torch(device)
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        logits = model(t["tokens"])  # logits : (B, T, V)
    finally:
        if was_training:
            model.train()
    out = copy_accuracy(logits.argmax(-1), batch)
    out["loss"] = float(masked_cross_entropy(logits, t["targets"], t["loss_mask"]))
    return out


@torch.no_grad()
def generate_copies(model: Model, strings, device="cpu") -> np.ndarray:
    """Greedy autoregressive decoding of copies.

    Parameters
    ----------
    model : callable
        tokens (B, T) -> logits (B, T, V).
    strings : array of int, shape (B, n)
        Letter ids of strings of one common length n.

    Returns
    -------
    ndarray of int64, shape (B, n + 1)
        The tokens generated after ``BOS s SEP``, greedily, for at most ``n + 1`` steps;
        everything after the first generated EOS is set to PAD (decoding stopped there).
    """
    s = torch.as_tensor(np.asarray(strings), dtype=torch.int64, device=device)
    if s.ndim != 2:
        raise WaveInputError(f"strings must be 2-D (B, n) letter ids, got shape {tuple(s.shape)}.")
    B, n = s.shape
    _check_fits(model, 2 * n + 2, f"generating a copy of length {n}")
    bos = torch.full((B, 1), BOS, dtype=torch.int64, device=device)
    sep = torch.full((B, 1), SEP, dtype=torch.int64, device=device)
    tokens = torch.cat([bos, s, sep], dim=1)  # tokens : (B, n + 2)
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        done = torch.zeros(B, dtype=torch.bool, device=device)
        out = []
        for _ in range(n + 1):
            nxt = model(tokens)[:, -1].argmax(-1)  # nxt : (B,)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            out.append(nxt)
            done = done | (nxt == EOS)
            if bool(done.all()):
                break
            tokens = torch.cat([tokens, nxt[:, None]], dim=1)
    finally:
        if was_training:
            model.train()
    gen = torch.full((B, n + 1), PAD, dtype=torch.int64)
    gen[:, : len(out)] = torch.stack(out, dim=1).cpu()
    return gen.numpy()


def generation_accuracy(generated, strings) -> dict:
    """Metrics of generated copies against the strings: exact-string accuracy (all n letters
    and the EOS right) and character accuracy over those n + 1 positions."""
    gen, s = _np(generated), _np(strings)
    target = np.concatenate([s, np.full((s.shape[0], 1), EOS)], axis=1)
    if gen.shape != target.shape:
        raise WaveInputError(f"generated must have shape {target.shape}, got {gen.shape}.")
    right = gen == target
    return {
        "char_acc": float(right.mean()),
        "exact_acc": float(right.all(axis=1).mean()),
        "n_examples": int(s.shape[0]),
        "n_tokens": int(target.size),
    }


@torch.no_grad()
def evaluate_generation(model: Model, length: int, n_examples=64, seed=0, device="cpu") -> dict:
    """Autoregressive evaluation on ``n_examples`` random strings of exactly ``length``."""
    batch = fixed_length_batch(length, n_examples, seed)
    strings = batch.tokens[:, 1 : length + 1]
    return generation_accuracy(generate_copies(model, strings, device), strings)


def length_generalization(
    model: Model, lengths, n_examples=64, seed=0, device="cpu", modes=("teacher", "generate")
) -> list[dict]:
    """Accuracy over copy lengths, e.g. longer than trained on.

    Returns one row per (length, mode): ``{"length", "mode", "char_acc", "exact_acc",
    "n_examples", ...}``; a length that does not fit the model's ``max_len`` gives a row
    with ``"skipped"`` (the reason) instead of metrics.
    """
    rows = []
    for length in lengths:
        length = int(length)
        for mode in modes:
            row = {"length": length, "mode": mode}
            try:
                if mode == "teacher":
                    b = fixed_length_batch(length, n_examples, seed)
                    row.update(evaluate_teacher_forced(model, b, device))
                elif mode == "generate":
                    row.update(evaluate_generation(model, length, n_examples, seed, device))
                else:
                    raise WaveInputError(f"mode {mode!r} is not 'teacher' or 'generate'.")
            except WaveInputError as exc:
                if mode not in ("teacher", "generate"):
                    raise
                row["skipped"] = str(exc)
            rows.append(row)
    return rows


def format_length_table(rows: list[dict]) -> str:
    """Plain-text table of :func:`length_generalization` rows."""
    lines = [f"{'length':>6}  {'mode':<9} {'exact':>6} {'char':>6}"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['length']:>6}  {r['mode']:<9} skipped (beyond max_len)")
        else:
            lines.append(
                f"{r['length']:>6}  {r['mode']:<9} {r['exact_acc']:6.3f} {r['char_acc']:6.3f}"
            )
    return "\n".join(lines)
