"""The generated API reference matches the docstrings it is made from."""

import subprocess
import sys

from paths import ROOT


def test_api_reference_is_up_to_date():
    # docs/make_api.py --check exits 1 when docs/api.md differs from what the docstrings
    # give now: run `python docs/make_api.py` after changing a public signature or docstring
    r = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_api.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
