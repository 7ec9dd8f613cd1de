"""Run inside NiMARE's own venv: NiMARE's NeuroVault import and Stouffer's method against a neurodrop site.

Only the host is swapped (NiMARE writes ``https://neurovault.org`` into its URLs); everything else is NiMARE
0.22.1 as released. Prints a JSON summary for the test to check.
Usage: python nimare_run.py BASE_URL DATA_DIR COLLECTION_ID...
"""

import json
import sys
from pathlib import Path

import numpy as np
import requests


def swap_host(base_url):
    """Send NiMARE's requests for neurovault.org to the site under test."""
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        return original(self, method, url.replace("https://neurovault.org", base_url), *args, **kwargs)

    requests.Session.request = request


def main(base_url, data_dir, *collection_ids):
    swap_host(base_url)
    from nimare.io import convert_neurovault_to_dataset
    from nimare.meta.ibma import Stouffers

    dataset = convert_neurovault_to_dataset([int(c) for c in collection_ids], {"motor": "motor"}, img_dir=data_dir)
    result = Stouffers().fit(dataset)
    z = result.get_map("z", return_type="array")
    print(json.dumps({
        "saved": sorted(path.name for path in Path(data_dir).rglob("collection-*")),
        "z_maps": int(dataset.images["z"].notna().sum()),
        "sample_sizes": sorted(size for sizes in dataset.metadata["sample_sizes"] for size in sizes),
        "z_finite": int(np.isfinite(z).sum()),
        "z_max": float(np.nanmax(np.abs(z))),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
