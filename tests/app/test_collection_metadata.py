"""The web form checks fields by the API's rules, takes the main study-design fields, and pages show them."""

import pytest

from webapp.extensions import db
from webapp.models import Collection, Image

from .test_collections import collection_id, create_collection, owner  # noqa: F401 (the owner fixture)


@pytest.mark.parametrize(("url", "accepted"), [("ftp://data.example.org/x", False), ("http://localhost:8000/d", True),
                                               ("https://openneuro.org/ds000001", True)])
def test_form_url_rule_is_the_apis(client, owner, url, accepted):  # noqa: F811
    answer = create_collection(client, paper_url=url)
    assert (answer.status_code == 302) is accepted, url
    if not accepted:
        assert b"Enter a valid URL." in answer.data, "the API's message"


def test_form_saves_study_design_and_the_page_shows_it(app, client, owner):  # noqa: F811
    answer = create_collection(client, echo_time="30", scanner_make="Siemens Prisma", type_of_design="blocked",
                               doi="10.1234/design.1")
    assert answer.status_code == 302, answer.data[:2000]
    cid = collection_id(answer)
    with app.app_context():
        stored = db.session.get(Collection, cid)
        assert (stored.echo_time, stored.scanner_make, stored.type_of_design) == (30.0, "Siemens Prisma", "blocked")
        assert stored.doi_add_date is not None
    page = client.get(f"/collections/{cid}").get_data(as_text=True)
    assert '<dl class="metadata">' in page and "<dt>Echo time</dt><dd>30</dd>" in page
    refused = create_collection(client, echo_time="soon")
    assert refused.status_code == 400 and b"A valid number is required." in refused.data


def test_image_page_lists_the_maps_metadata(app, client, owner):  # noqa: F811
    cid = collection_id(create_collection(client))
    with app.app_context():
        image = Image(collection_id=cid, name="m", storage_key="originals/x", sha256="0" * 64, status=Image.READY,
                      contrast_definition="left > right", smoothness_fwhm=6.0, sex="F")
        db.session.add(image)
        db.session.commit()
        image_id = image.id
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "<dt>Contrast definition</dt><dd>left &gt; right</dd>" in page
    assert "<dt>Smoothness FWHM (mm)</dt><dd>6</dd>" in page and "<dt>Sex</dt><dd>F</dd>" in page
