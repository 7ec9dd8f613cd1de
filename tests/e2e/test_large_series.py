"""A series larger, as floats, than a worker may hold ends ready: a real worker reads it one volume at a time."""

import numpy as np
import pytest
import requests

from tests import niftigen as gen
from tests.live import LiveSite

pytestmark = pytest.mark.e2e

SHAPE = (64, 64, 36)
VOLUMES = 1800  # 265 M voxels: 531 MB as int16 on disk (8 MB gzipped), 1.06 GB as float32
ADDRESS_SPACE_MB = 640  # the worker child's whole address space, interpreter and libraries included


def volume_at(t):
    """Cheap to compress (runs along x), different from one volume to the next."""
    i, j, k = np.indices(SHAPE)
    base = ((j // 4 + k // 4) % 30) * (i > 8)
    return (base * (1 + t % 5) + t % 7).astype(np.int16)


#: The base time limits would stop this series' run within seconds; the allowance its 8 MB file earns (decision
#: 0034) reaches the worker with the task's message, or the run fails "took longer than the 1 s allowed".
TIME_LIMITS = {"PROCESSING_SOFT_TIME_LIMIT": "1", "PROCESSING_TIME_LIMIT": "2", "PROCESSING_SECONDS_PER_GIB": "100000"}


@pytest.fixture(scope="module")
def small_worker_site(tmp_path_factory):
    site = LiveSite(tmp_path_factory.mktemp("large-series"),
                    extra_env={"WORKER_ADDRESS_SPACE_MB": str(ADDRESS_SPACE_MB), "OPENBLAS_NUM_THREADS": "1",
                               **TIME_LIMITS})
    site.start()
    yield site
    site.stop()


def test_a_series_twice_the_worker_address_space_ends_ready_with_numpy_numbers(small_worker_site, tmp_path):
    site = small_worker_site
    assert np.prod(SHAPE) * VOLUMES * 4 > 1.5 * ADDRESS_SPACE_MB * 2**20
    path = gen.write_long_series(tmp_path / "rest.nii.gz", SHAPE, VOLUMES, volume_at)
    email = site.create_user("series@example.org")
    api = {"Authorization": f"Token {site.token_for(email)}"}
    collection = site_post(site, "/api/collections/", api, data={"name": "Series"})
    with open(path, "rb") as handle:
        image = site_post(site, f"/api/collections/{collection['id']}/images/", api,
                          data={"name": "rest"}, files={"file": ("rest.nii.gz", handle)})

    final = site.wait_for_final(image["id"], seconds=300)
    assert final.status == "ready", final.error
    stats = site_get(site, f"/api/images/{image['id']}/", api)["stats"]
    assert stats["n_volumes"] == VOLUMES and stats["series"]["tr"] == 2.0
    assert len(stats["volumes"]) == VOLUMES
    distinct = {}
    for t, got in enumerate(stats["volumes"]):
        key = (t % 5, t % 7)
        if key not in distinct:
            volume = volume_at(t).astype(np.float64)
            values = volume[volume != 0]
            distinct[key] = (values.min(), values.max(), values.mean(), values.std())
        assert (got["min"], got["max"]) == distinct[key][:2]
        assert got["mean"] == pytest.approx(distinct[key][2], rel=1e-9)
        assert got["std"] == pytest.approx(distinct[key][3], rel=1e-9)
    for kind in ("mosaic", "tmean", "tsnr"):
        assert site_get_raw(site, f"/images/{image['id']}/thumbnails/{kind}.png", api)[:4] == b"\x89PNG"


def site_post(site, path, headers, **kwargs):
    answer = requests.post(site.url + path, headers=headers, timeout=120, **kwargs)
    assert answer.status_code == 201, answer.text
    return answer.json()


def site_get(site, path, headers):
    answer = requests.get(site.url + path, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def site_get_raw(site, path, headers):
    answer = requests.get(site.url + path, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.status_code
    return answer.content
