"""The compare page: numbers for known pairs, pictures kept as artifacts of the pair, privacy, the picker."""

import re

from tests.app.test_clusters import AMYGDALA_MAP, processed  # noqa: F401 (the fixture)
from tests.niftigen import mni_blobs_data, mni_like_data
from webapp.extensions import db
from webapp.models import Artifact, Image
from webapp.processing import tasks


def shown(page, name):
    return re.search(rf'data-compare="{name}">([^<\s]+)', page).group(1)


def test_identical_maps_give_r_1_and_dice_1(client, processed):  # noqa: F811
    a, b = processed(AMYGDALA_MAP, name="a"), processed(AMYGDALA_MAP, name="b")
    answer = client.get(f"/images/{a}/compare/{b}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert shown(page, "pearson_r") == "1" and shown(page, "spearman_r") == "1" and shown(page, "dice") == "1"
    for picture in ("scatter", "slices"):
        png = client.get(f"/images/{a}/compare/{b}/{picture}.png")
        assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_map_and_its_negative_give_r_minus_1(client, processed):  # noqa: F811
    data, affine = mni_blobs_data(AMYGDALA_MAP, brain=0.05)
    a, b = processed((data, affine), name="a"), processed((-data, affine), name="minus a")
    page = client.get(f"/images/{a}/compare/{b}").get_data(as_text=True)
    assert shown(page, "pearson_r") == "-1" and shown(page, "spearman_r") == "-1"


def test_maps_on_different_grids(client, processed):  # noqa: F811
    a = processed(mni_like_data(2.0), name="2 mm")
    b = processed(mni_like_data(4.0), name="4 mm")
    page = client.get(f"/images/{a}/compare/{b}").get_data(as_text=True)
    assert float(shown(page, "pearson_r")) > 0.8
    assert 0 < float(shown(page, "dice")) < 1


def test_a_private_map_is_404_for_others_in_either_place(client, accounts, processed):  # noqa: F811
    public = processed(AMYGDALA_MAP, name="public")
    hidden = processed(AMYGDALA_MAP, private=True, name="hidden")
    for url in (f"/images/{public}/compare/{hidden}", f"/images/{hidden}/compare/{public}",
                f"/images/{public}/compare/{hidden}/scatter.png", f"/images/{public}/compare/999999"):
        assert client.get(url).status_code == 404, url
    accounts.login("clusters@example.org")
    assert client.get(f"/images/{public}/compare/{hidden}").status_code == 200


def test_pictures_are_kept_and_made_again_when_a_map_is_reprocessed(app, client, processed):  # noqa: F811
    a, b = processed(AMYGDALA_MAP, name="a"), processed(AMYGDALA_MAP, name="b")
    client.get(f"/images/{a}/compare/{b}")
    with app.app_context():
        kept = {x.kind: x.created_at for x in Artifact.query.filter(Artifact.image_id == a,
                                                                     Artifact.kind.like(f"compare_{b}%"))}
    assert set(kept) == {f"compare_{b}", f"compare_{b}_scatter", f"compare_{b}_slices"}
    client.get(f"/images/{a}/compare/{b}")
    with app.app_context():
        assert {x.kind: x.created_at for x in Artifact.query.filter(Artifact.image_id == a)
                if x.kind in kept} == kept
        image = db.session.get(Image, b)
        image.set_status(Image.UPLOADED)
        db.session.commit()
        assert tasks.process_image.delay(b).get() == "ready"
    client.get(f"/images/{a}/compare/{b}")
    with app.app_context():
        again = {x.kind: x.created_at for x in Artifact.query.filter(Artifact.image_id == a) if x.kind in kept}
    assert all(again[kind] > kept[kind] for kind in kept)


def test_image_page_picker_leads_to_the_pair(client, processed):  # noqa: F811
    a, b = processed(AMYGDALA_MAP, name="a"), processed(AMYGDALA_MAP, name="b")
    page = client.get(f"/images/{a}").get_data(as_text=True)
    assert 'id="compare-with"' in page and f'<option value="{b}">b</option>' in page
    answer = client.get(f"/images/{a}/compare?with={b}")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/images/{a}/compare/{b}")
    assert client.get(f"/images/{a}/compare?with=x").headers["Location"].endswith(f"/images/{a}")
