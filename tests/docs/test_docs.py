"""The documentation site builds from docs/ and the docstrings with warnings as errors."""

import os
import shutil
import subprocess
import sys

import pytest
from paths import ROOT


def test_site_builds_strictly(tmp_path):
    # mkdocs --strict fails on a broken link, a missing page and a docstring mkdocstrings
    # cannot parse (numpydoc sections, parameters that are not in the signature)
    mkdocs = shutil.which("mkdocs", path=os.path.dirname(sys.executable))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install 'wavescope[docs]')")
    r = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "waves" / "index.html").exists()
