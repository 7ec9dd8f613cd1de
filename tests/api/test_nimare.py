"""NiMARE 0.22.1, unchanged, imports two collections from a live site and runs Stouffer's method (issue 22).

NiMARE saves each map under the last part of its ``file`` URL, so this fails when that part is not a
``.nii.gz`` file name. NiMARE needs nilearn < 0.14, so it runs in a venv of its own, made once.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.niftigen import make_nifti, mni_like_data

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
VENV = Path(os.environ.get("NIMARE_VENV", Path.home() / ".cache" / "neurodrop" / "nimare-0.22.1"))
MAPS = {"motor t": "T", "motor z": "Z", "motor beta": "U", "motor variance": "V"}


def nimare_python():
    """The venv's python, made on first use; skips (with the reason) when NiMARE cannot be installed."""
    python = VENV / "bin" / "python"
    ready = VENV / ".installed"
    if ready.exists():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements-nimare.txt")],
                       check=True, capture_output=True, timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as failure:
        pytest.skip(f"NiMARE 0.22.1 could not be installed into {VENV} (offline?): {failure}")
    ready.touch()
    return python


def upload_collection(live_site, headers, folder, seed):
    """A public collection of a group-level T, Z, beta and variance map of one contrast, all processed."""
    api = live_site.url + "/api"
    collection = requests.post(f"{api}/collections/", json={"name": f"nimare {uuid.uuid4().hex[:8]}"},
                               headers=headers, timeout=30).json()
    ids = []
    for index, (name, map_type) in enumerate(MAPS.items()):
        data, affine = mni_like_data(signed=map_type != "V", seed=seed * 10 + index)
        path = make_nifti(folder / f"{seed}_{index}.nii.gz", data, affine)
        with path.open("rb") as handle:
            answer = requests.post(f"{api}/collections/{collection['id']}/images/", headers=headers, timeout=60,
                                   files={"file": handle}, data={"name": name, "map_type": map_type,
                                                                 "analysis_level": "G", "modality": "fMRI-BOLD",
                                                                 "number_of_subjects": 20 + seed})
        ids.append(answer.json()["id"])
    for image_id in ids:
        assert live_site.wait_for_final(image_id).status == "ready"
    return collection["id"]


def test_nimare_imports_collections_and_runs_stouffer(live_site, tmp_path):
    python = nimare_python()
    email = live_site.create_user(f"nimare-{uuid.uuid4().hex[:6]}@example.org")
    headers = {"Authorization": f"Token {live_site.token_for(email)}"}
    collections = [upload_collection(live_site, headers, tmp_path, seed) for seed in (1, 2)]
    run = subprocess.run([str(python), str(HERE / "nimare_run.py"), live_site.url, str(tmp_path / "nimare"),
                          *map(str, collections)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(summary["saved"]) == 8 and all(name.endswith(".nii.gz") for name in summary["saved"])
    assert summary["z_maps"] == 2 and summary["sample_sizes"] == [21, 22]
    assert summary["z_finite"] > 1000 and summary["z_max"] > 1, "Stouffer's z over the brain"
