"""The report's notes: repeated statistics messages said once, others kept in order."""

from wavescope.report.findings import condensed_notes


def test_repeated_notes_are_said_once_and_others_pass_through():
    few = (
        "{p}: group '{g}' has {n} subject(s) (recordings of one model, animal or session are "
        "repeated measures); a test needs at least 3 subjects per group, so only estimates are "
        "given."
    )
    usable = (
        "group '{g}' has 0 usable recording(s) for '{p}'; an interval or a test needs at least "
        "3: add recordings, subjects or seeds."
    )
    msgs = [
        "first, kept",
        few.format(p="a vs b", g="b", n=1),
        usable.format(g="b", p="speed_median"),
        few.format(p="a vs c", g="c", n=0),
        usable.format(g="b", p="wavelength_median"),
        few.format(p="a vs b", g="b", n=0),
        "last, kept",
    ]
    out = condensed_notes(msgs)
    assert out[0] == "first, kept" and out[-1] == "last, kept"
    assert len(out) == 4
    assert "a vs b, a vs c" in out[1] and "b (1 subject), c (0 subjects)" in out[1]
    assert "speed_median, wavelength_median" in out[2]
    # nothing that matches no pattern is lost
    assert condensed_notes(["x", "y"]) == ["x", "y"]
