"""Totals from the collections' stored counts stay exact: private collections and unfinished images left out."""

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Image

from .seed import refresh_counts, seed_collections, seed_images, seed_user


def counted_ready_public(*conditions):
    """The COUNT the stored counts replace."""
    query = Image.public_query().where(Image.status == Image.READY, *conditions)
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def test_public_ready_count_matches_a_count_over_the_table(app, client):
    with app.app_context():
        owner = seed_user()
        public, private = seed_collections(owner, 2, private_every=2)
        seed_images([public, private], 30, owner)
        seed_images([public], 4, owner, status="processing")
        seed_images([public], 3, owner, status="failed")
        refresh_counts([public, private])
        db.session.commit()
        assert Image.public_ready_count() == counted_ready_public() == 15
        t_maps = counted_ready_public(Image.map_type == "T")

    assert client.get("/api/images/?limit=5").get_json()["count"] == 15
    assert 'data-total="15"' in client.get("/images/").get_data(as_text=True)
    assert f'data-total="{t_maps}"' in client.get("/images/?map_type=T").get_data(as_text=True)


def test_unpublished_maps_leave_the_total_once_whatever_their_status(app):
    with app.app_context():
        owner = seed_user()
        [public] = seed_collections(owner, 1)
        ready = seed_images([public], 5, owner)
        unfinished = seed_images([public], 2, owner, status="processing")
        refresh_counts([public])
        db.session.execute(sa.update(Image).where(Image.id.in_([ready[0], unfinished[0]]))
                           .values(unpublished_reason="spam"))
        db.session.commit()
        assert Image.public_ready_count() == counted_ready_public() == 4
