"""Progress of long steps: reported to a caller that asks, silent otherwise."""

import io

from wavescope.core.progress import StderrBars, report, reporting
from wavescope.datasets import grid_positions, planar_wave
from wavescope.waves import measure_velocity


def _wave():
    return planar_wave(
        grid_positions(4, 4, 1e-3), fs=200, duration=3, frequency=10, speed=0.2, seed=0
    )


def test_null_reports_each_surrogate_to_the_installed_reporter_only(capsys):
    calls = []
    with reporting(lambda *a: calls.append(a)):
        res = measure_velocity(_wave(), (8, 12), n_surrogates=2)
    n = res.extra["n_lag_free_surrogates"]
    assert n >= 2
    assert calls == [("no-propagation null", i, n) for i in range(1, n + 1)]
    # outside the block, and with no reporter, the library prints nothing
    measure_velocity(_wave(), (8, 12), n_surrogates=2)
    report("anything", 1, 2)
    assert capsys.readouterr() == ("", "")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_stderr_bars_draw_only_on_a_terminal():
    pipe, tty = io.StringIO(), _Terminal()
    for f in (pipe, tty):
        bars = StderrBars(file=f)
        for i in range(1, 4):
            bars("no-propagation null", i, 3)
        bars.close()
    assert pipe.getvalue() == ""
    # tqdm redraws at most every 0.1 s, so the fast loop shows its first state: the stage
    # and its total
    assert "no-propagation null" in tty.getvalue() and "/3" in tty.getvalue()
