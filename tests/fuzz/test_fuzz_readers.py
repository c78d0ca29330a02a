"""Fuzz: the interchange .npz reader reads a recording or refuses the file, never worse.

Files are a valid recording damaged at random: truncated at any byte, bytes overwritten
anywhere (headers, names, sizes, data), a member's .npy header claiming another shape,
a misspelt or extra key, the wrong file type under an .npz name (.npy, text, pickle,
empty), compressed or not, read with and without memory-mapping. The claim: each ends
in a WaveField or a WaveInputError within the deadline, never another exception, a
MemoryError or an unpickling.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from fuzz_strategies import archive, npy_bytes, recording_members
from hypothesis import event, given
from hypothesis import strategies as st

from wavescope.core.errors import WaveInputError
from wavescope.core.field import WaveField
from wavescope.io import read_npz

#: Kinds of damage, each its own test case; examples per case from the hypothesis profile.
KINDS = (
    "intact", "truncate", "overwrite", "lying-header", "extra-key", "missing-key",
    "npy", "text", "pickle", "empty", "random-bytes",
)  # fmt: skip


class Trap:
    """Unpickling this object would create a file: the reader must never do it."""

    path = None

    def __reduce__(self):
        return (open, (str(Trap.path), "w"))


class Damaged(bytes):
    """The bytes of a damaged file, shown by what was done to them (not byte by byte)."""

    kind: str = ""
    detail: str = ""

    def __repr__(self) -> str:
        return f"<{self.kind} file, {len(self)} bytes{': ' + self.detail if self.detail else ''}>"


@st.composite
def damaged_files(draw, kind: str) -> tuple[bytes, str]:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    members = recording_members(
        rng, n_sites=draw(st.integers(1, 8)), n_times=draw(st.integers(1, 200))
    )
    compressed = draw(st.booleans())
    detail = f"members {sorted(members)}, {'deflated' if compressed else 'stored'}"
    if kind == "lying-header":
        key = draw(st.sampled_from(sorted(members)))
        shape = draw(st.sampled_from([(10**9,), (16, 10**12), (0,), (3, 3), (2**62, 2**62), ()]))
        members[key] = npy_bytes(np.zeros(4, np.float32), shape=shape)
        detail += f", {key} claims shape {shape}"
    elif kind == "extra-key":
        name = draw(st.sampled_from(["space_units", "bads", "Data", "fs ", "meta", "x"]))
        members[name + ".npy"] = npy_bytes(np.zeros(3))
        detail += f", extra key {name!r}"
    elif kind == "missing-key":
        gone = draw(st.sampled_from(["data.npy", "fs.npy", "positions.npy"]))
        members.pop(gone)
        detail += f", without {gone}"
    raw = archive(members, compressed)
    if kind == "truncate":
        cut = draw(st.integers(0, len(raw) - 1))
        detail += f", cut to {cut} of {len(raw)} bytes"
        raw = raw[:cut]
    elif kind == "overwrite":
        raw = bytearray(raw)
        spots = []
        for _ in range(draw(st.integers(1, 8))):
            at, value = draw(st.integers(0, len(raw) - 1)), draw(st.integers(0, 255))
            raw[at] = value
            spots.append((at, value))
        raw = bytes(raw)
        detail += f", bytes set (offset, value): {spots}"
    elif kind == "npy":
        raw = npy_bytes(rng.normal(size=(4, 10)))
    elif kind == "text":
        raw = b"time,ch1,ch2\n0,1.5,2.5\n1,1.0,0.5\n"
    elif kind == "pickle":
        raw = pickle.dumps({"data": Trap()})
    elif kind == "empty":
        raw = b""
    elif kind == "random-bytes":
        raw = bytes(rng.integers(0, 256, draw(st.integers(1, 300)), dtype=np.uint8))
    if kind in ("npy", "text", "pickle", "empty", "random-bytes"):
        detail = ""
    out = Damaged(raw)
    out.kind, out.detail = kind, detail
    return out, compressed


def _read(tmp_path, raw: bytes, kind: str, compressed: bool, mmap):
    Trap.path = tmp_path / "unpickled"
    path = tmp_path / "rec.npz"
    path.write_bytes(raw)
    try:
        field = read_npz(path, mmap=mmap)
    except WaveInputError as exc:
        event(f"{kind}: refused")
        assert "pickled" not in str(exc) or kind == "pickle"
        field = None
    else:
        event(f"{kind}: read")
        assert isinstance(field, WaveField)
        assert kind in ("intact", "overwrite", "truncate"), f"a {kind} file was read"
    assert not Trap.path.exists(), "the reader unpickled an object"
    if kind == "intact" and not (compressed and mmap is True):
        assert field is not None, "an intact file was refused"
    return field


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), mmap=st.sampled_from([False, True, "auto"]))
def test_damaged_npz_files_are_read_or_refused_with_a_toolkit_error(tmp_path, kind, data, mmap):
    raw, compressed = data.draw(damaged_files(kind))
    _read(tmp_path, raw, kind, compressed, mmap)
