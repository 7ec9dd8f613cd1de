"""The page of a 4D series: its numbers, its temporal mean and tSNR slices, each volume's mean over time."""

import re

import numpy as np

from tests.niftigen import make_nifti, mni_like_data
from webapp.extensions import db
from webapp.models import Collection, Image
from webapp.processing import tasks
from webapp.storage import new_key


def processed_series(app, accounts, tmp_path, volumes=6):
    """A series through the real task (eager); returns its image id."""
    data, affine = mni_like_data(8.0)
    series = np.stack([data * (1 + t / 10) + 100 * (data != 0) for t in range(volumes)], axis=-1)
    path = make_nifti(tmp_path / "bold.nii.gz", series, affine)
    owner_id = accounts.create("series-page@example.org")
    with app.app_context():
        collection = Collection(owner_id=owner_id, name="Series")
        stored = app.extensions["storage"].put_bytes(new_key("originals"), path.read_bytes())
        image = Image(collection=collection, uploader_id=owner_id, name="bold", storage_key=stored.key,
                      file_size=stored.size, sha256=stored.sha256, status=Image.UPLOADED)
        db.session.add(image)
        db.session.commit()
        assert tasks.process_image.delay(image.id).get() == "ready"
        return image.id


def test_the_series_page_shows_its_numbers_maps_and_mean_over_time(app, client, accounts, tmp_path):
    image_id = processed_series(app, accounts, tmp_path)
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "<h2>Series</h2>" in html and 'data-stat="n_volumes">6<' in html
    assert re.search(r'data-stat="tr">1(\.0+)? s<', html), re.search(r'data-stat="tr">[^<]*<', html)
    points = re.search(r'<polyline points="([^"]+)"', html).group(1).split()
    assert len(points) == 6
    heights = [float(p.split(",")[1]) for p in points]
    assert heights == sorted(heights, reverse=True)  # the mean grows with time: the line climbs
    for kind in ("tmean_map", "tsnr_map"):
        assert f"/images/{image_id}/files/{kind}.nii.gz" in html
    for kind in ("tmean", "tsnr", "mosaic"):
        assert f"/images/{image_id}/thumbnails/{kind}.png" in html
        answer = client.get(f"/images/{image_id}/thumbnails/{kind}.png")
        assert answer.status_code == 200 and answer.data[:4] == b"\x89PNG"


def test_a_3d_map_has_no_series_section(app, client, accounts, tmp_path):
    image_id = processed_series(app, accounts, tmp_path, volumes=1)
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "<h2>Series</h2>" not in html and "<polyline" not in html
