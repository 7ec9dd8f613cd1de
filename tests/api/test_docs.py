"""The examples in docs/api.md run as written against a live site (address, token and file names substituted)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import pytest

from tests.niftigen import mni_like_map

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
PLACEHOLDER_SITE = "https://neurodrop.example.org"
PLACEHOLDER_TOKEN = "YOUR_API_TOKEN"


def code_blocks(language):
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)


def test_doc_has_runnable_examples_for_each_client():
    python = "\n".join(code_blocks("python"))
    assert code_blocks("bash") and "from pynv import Client" in python and "fetch_neurovault_ids" in python
    for block in code_blocks("bash") + code_blocks("python"):
        assert PLACEHOLDER_SITE in block or "collection" in block


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder holding the maps the examples upload, as the current directory."""
    mni_like_map(tmp_path / "motor_tmap.nii.gz")
    mni_like_map(tmp_path / "rest_zmap.nii.gz", signed=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def substituted(code, live_site, token):
    return code.replace(PLACEHOLDER_SITE, live_site.url).replace(PLACEHOLDER_TOKEN, token)


@pytest.mark.e2e
def test_curl_examples_run(live_site, workdir):
    token = live_site.token_for(live_site.create_user("docs-curl@example.org"))
    script = "set -euo pipefail\n" + "\n".join(substituted(b, live_site, token) for b in code_blocks("bash"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ready", "None"]
    assert (workdir / "motor_download.nii.gz").read_bytes() == (workdir / "motor_tmap.nii.gz").read_bytes()


@pytest.mark.e2e
def test_python_examples_run(live_site, workdir, monkeypatch, capsys):
    from nilearn.datasets import neurovault

    token = live_site.token_for(live_site.create_user("docs-python@example.org"))
    for name in ("_NEUROVAULT_COLLECTIONS_URL", "_NEUROVAULT_IMAGES_URL"):
        monkeypatch.setattr(neurovault, name, getattr(neurovault, name))  # restored after the example sets them
    namespace = {"__name__": "docs_example"}
    for block in code_blocks("python"):
        exec(compile(substituted(block, live_site, token), str(DOC), "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("2 ['2-back > 0-back'] " + live_site.url)
    assert float(printed[1]) > 0
    shape = str(nib.load(workdir / "motor_tmap.nii.gz").shape)
    assert len([line for line in printed if line.endswith(shape) and "nilearn_data" in line]) == 2, printed
    assert printed[-1] == "2"
