"""Specification of the copy task library (Jelassi et al. 2024 format and metrics)."""

import numpy as np
import pytest
import torch

from wavescope.core.validate import WaveInputError
from wavescope.models.tasks import (
    BOS,
    EOS,
    FIRST_LETTER,
    PAD,
    SEP,
    VOCAB_SIZE,
    CopyTask,
    assemble_batch,
    copy_accuracy,
    decode,
    encode,
    evaluate_generation,
    evaluate_teacher_forced,
    fixed_length_batch,
    generate_copies,
    generation_accuracy,
    length_generalization,
    masked_cross_entropy,
)


def oracle_next(tokens: np.ndarray) -> np.ndarray:
    """The copy rule written out by hand: after SEP, repeat the string since the last BOS,
    then EOS. Positions in the source part get PAD (unpredictable)."""
    B, T = tokens.shape
    nxt = np.full((B, T), PAD, dtype=np.int64)
    for b in range(B):
        bos = sep = None
        for t in range(T):
            tok = tokens[b, t]
            if tok == BOS:
                bos, sep = t, None
            elif tok == SEP and bos is not None and sep is None:
                sep = t
            if bos is not None and sep is not None:
                n, k = sep - bos - 1, t - sep
                nxt[b, t] = tokens[b, bos + 1 + k] if k < n else EOS
    return nxt


class OracleModel:
    """A 'model' that copies perfectly: tokens (B, T) -> one-hot logits (B, T, V)."""

    max_len = None

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        nxt = torch.from_numpy(oracle_next(tokens.numpy()))
        return torch.nn.functional.one_hot(nxt, VOCAB_SIZE).float() * 10.0


class RandomModel:
    """A 'model' with random logits (seeded)."""

    max_len = None

    def __init__(self, seed=0):
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, tokens):
        return torch.randn(*tokens.shape, VOCAB_SIZE, generator=self.g)


def test_example_format_is_bos_s_sep_s_eos_then_pad():
    s = encode("cab")
    b = assemble_batch([[s]], context_len=10)
    # buffer: < c a b | c a b > _ _ _  (11 = context_len + 1 tokens)
    assert decode(b.tokens[0]) == "<cab|cab>_"
    assert decode(b.targets[0]) == "cab|cab>__"
    assert b.tokens[0, 0] == BOS and b.tokens[0, 4] == SEP and b.targets[0, 7] == EOS
    # the ids: specials 0..3, letters from 4
    assert (PAD, BOS, SEP, EOS, FIRST_LETTER, VOCAB_SIZE) == (0, 1, 2, 3, 4, 30)
    assert decode(encode("xyz")) == "xyz"


def test_loss_mask_covers_exactly_the_copied_letters_and_eos():
    b = assemble_batch([[encode("cab")]], context_len=10)
    # targets "cab|cab>__": masked where the target is the copied c, a, b and the EOS
    assert np.flatnonzero(b.loss_mask[0]).tolist() == [4, 5, 6, 7]
    assert decode(b.targets[0][b.loss_mask[0]]) == "cab>"
    # those positions read SEP and the copied letters
    assert decode(b.tokens[0][b.loss_mask[0]]) == "|cab"
    assert b.example[0].tolist() == [-1] * 4 + [0] * 4 + [-1] * 2


def test_packing_places_examples_back_to_back_with_distinct_example_ids():
    b = assemble_batch([[encode("ab"), encode("xyz")], [encode("q")]], context_len=16)
    assert decode(b.tokens[0]) == "<ab|ab><xyz|xyz>"
    assert decode(b.targets[0]) == "ab|ab><xyz|xyz>_"
    assert decode(b.tokens[1]) == "<q|q>" + "_" * 11
    assert b.lengths.tolist() == [2, 3, 1]
    assert decode(b.targets[0][b.example[0] == 0]) == "ab>"
    assert decode(b.targets[0][b.example[0] == 1]) == "xyz>"
    assert decode(b.targets[1][b.example[1] == 2]) == "q>"
    with pytest.raises(WaveInputError, match="longer context_len"):
        assemble_batch([[encode("abcdef")]], context_len=10)


@pytest.mark.parametrize("packed", [True, False])
def test_generated_batches_follow_the_format_and_length_range(packed):
    task = CopyTask(min_len=5, max_len=20, seed=3, packed=packed)
    b = task.batch(64)
    T = task.context_len
    # default context: two longest examples (2 * 43 - 1 inputs) packed, one (42) unpacked
    assert b.tokens.shape == (64, T) and T == (85 if packed else 42)
    # every example reproduces under the oracle rule: the format is exactly BOS s SEP s EOS
    assert np.array_equal(oracle_next(b.tokens)[b.loss_mask], b.targets[b.loss_mask])
    assert b.lengths.min() >= 5 and b.lengths.max() <= 20
    assert set(np.unique(b.lengths)) == set(range(5, 21))  # 64+ draws cover all 16 lengths
    # mask size: each example contributes n letters + EOS
    assert b.loss_mask.sum() == (b.lengths + 1).sum()
    per_row = [len(np.unique(r[r >= 0])) for r in b.example]
    if packed:
        assert min(per_row) >= 2  # two examples of length <= 20 always fit 85 + 1 tokens
    else:
        assert per_row == [1] * 64


def test_lengths_are_uniform_over_the_range():
    task = CopyTask(min_len=5, max_len=20, seed=0, packed=False)
    lengths = np.concatenate([task.batch(500).lengths for _ in range(8)])
    counts = np.bincount(lengths, minlength=21)[5:]
    # 4000 draws over 16 values: expected 250 each, binomial sd ~15.3; 5 sd = 77
    assert np.all(np.abs(counts - 250) < 77)


def test_same_seed_same_batches_and_different_seed_different():
    a, b, c = CopyTask(seed=7), CopyTask(seed=7), CopyTask(seed=8)
    for _ in range(3):
        x, y, z = a.batch(4), b.batch(4), c.batch(4)
        assert np.array_equal(x.tokens, y.tokens) and np.array_equal(x.loss_mask, y.loss_mask)
        assert not np.array_equal(x.tokens, z.tokens)
    # the stream resumes from the batch counter alone
    d = CopyTask(seed=7)
    d.load_state_dict(a.state_dict())
    assert np.array_equal(d.batch(4).tokens, a.batch(4).tokens)
    assert CopyTask.from_dict(a.to_dict()).to_dict() == a.to_dict()


def test_accuracy_metrics_on_hand_built_predictions():
    b = assemble_batch([[encode("ab"), encode("xyz")]], context_len=16)
    pred = b.targets.copy()
    m = copy_accuracy(pred, b)
    assert m["char_acc"] == 1.0 and m["exact_acc"] == 1.0 and m["n_tokens"] == 7
    # errors outside the mask do not count
    pred[0, 0] = SEP
    assert copy_accuracy(pred, b)["char_acc"] == 1.0
    # one wrong copied letter in example 1: 6/7 characters, 1/2 strings
    pred[0, np.flatnonzero(b.example[0] == 1)[1]] = FIRST_LETTER
    m = copy_accuracy(pred, b)
    assert m["char_acc"] == pytest.approx(6 / 7) and m["exact_acc"] == 0.5
    # a missing EOS also breaks the exact match
    pred = b.targets.copy()
    pred[0, np.flatnonzero(b.example[0] == 0)[-1]] = PAD
    assert copy_accuracy(torch.from_numpy(pred), b)["exact_acc"] == 0.5


def test_oracle_scores_100_percent_and_random_near_0():
    b = CopyTask(seed=1).batch(32)
    oracle = evaluate_teacher_forced(OracleModel(), b)
    assert oracle["char_acc"] == 1.0 and oracle["exact_acc"] == 1.0
    rnd = evaluate_teacher_forced(RandomModel(), b)
    # chance per token is 1/30; over ~1000 tokens the sd is ~0.006, so < 0.07 is > 5 sd
    assert rnd["char_acc"] < 0.07
    assert rnd["exact_acc"] == 0.0  # (1/30)^6 per string at best
    # random logits ~N(0,1): loss near log(30) + 1/2 = 3.9 nats
    assert 3.5 < rnd["loss"] < 4.5
    # the oracle's logits are 10 * one-hot: loss log(1 + 29 e^-10) exactly (float32 rounding)
    assert oracle["loss"] == pytest.approx(np.log1p(29 * np.exp(-10.0)), rel=1e-4)


def test_masked_cross_entropy_matches_manual_mean():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, VOCAB_SIZE, generator=g)
    targets = torch.randint(0, VOCAB_SIZE, (2, 5), generator=g)
    mask = torch.tensor([[0, 1, 1, 0, 0], [1, 0, 0, 0, 1]], dtype=torch.bool)
    manual = torch.stack(
        [-torch.log_softmax(logits[i, j], -1)[targets[i, j]] for i, j in mask.nonzero()]
    ).mean()
    assert torch.allclose(masked_cross_entropy(logits, targets, mask), manual, atol=1e-6)


def test_autoregressive_decode_with_a_copying_model():
    strings = fixed_length_batch(12, 8, seed=0).tokens[:, 1:13]
    gen = generate_copies(OracleModel(), strings)
    assert gen.shape == (8, 13)
    assert np.array_equal(gen[:, :12], strings) and np.all(gen[:, 12] == EOS)
    assert evaluate_generation(OracleModel(), 30, n_examples=4)["exact_acc"] == 1.0


def test_decoding_stops_at_an_early_eos():
    class StopEarly:
        """Emits one letter then EOS."""

        max_len = None

        def __call__(self, tokens):
            after_sep = tokens.shape[1] - 1 - int((tokens[0] == SEP).nonzero()[0])
            nxt = FIRST_LETTER if after_sep == 0 else EOS
            return torch.nn.functional.one_hot(torch.full(tokens.shape, nxt), VOCAB_SIZE).float()

    strings = encode("abcd")[None]
    gen = generate_copies(StopEarly(), strings)
    assert decode(gen[0]) == "a>___"  # nothing generated after EOS
    m = generation_accuracy(gen, strings)
    assert m["exact_acc"] == 0.0 and m["char_acc"] == pytest.approx(1 / 5)  # only 'a' right


def test_length_generalization_table_and_max_len_skip():
    class ShortOracle(OracleModel):
        max_len = 30

    rows = length_generalization(ShortOracle(), [5, 14, 20], n_examples=4)
    by = {(r["length"], r["mode"]): r for r in rows}
    assert by[(5, "teacher")]["exact_acc"] == 1.0 and by[(14, "generate")]["exact_acc"] == 1.0
    # length 20 needs 42 tokens > max_len 30: skipped with a reason, not an exception
    assert "max_len=30" in by[(20, "teacher")]["skipped"]
    with pytest.raises(WaveInputError, match="max_len=30"):
        evaluate_teacher_forced(ShortOracle(), fixed_length_batch(20, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_len": 10, "max_len": 5}, "min_len <= max_len"),
        ({"min_len": 5, "max_len": 20, "context_len": 30}, "cannot hold"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_task_parameters_raise_clear_errors(kwargs, match):
    with pytest.raises(WaveInputError, match=match):
        CopyTask(**kwargs)
    with pytest.raises(WaveInputError, match="only the letters"):
        encode("Ab")
