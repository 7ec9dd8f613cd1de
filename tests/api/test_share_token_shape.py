"""Issue 15: one share-token rule for the pages and the API (the pages took 1 to 64 characters, the API 16 to 64)."""

from webapp.extensions import db
from webapp.models import Collection


def test_a_token_too_short_to_be_ours_opens_nothing_on_the_pages_or_the_api(app, owner, client):
    private = owner.new_collection("Secret", private=True)
    with app.app_context():
        db.session.get(Collection, private["id"]).share_token = "short"
        db.session.commit()
    assert client.get("/collections/share/short").status_code == 404
    assert client.get("/api/collections/short/").status_code == 404


def test_a_real_token_opens_the_collection_on_both(app, owner, client):
    private = owner.new_collection("Secret", private=True)
    with app.app_context():
        token = db.session.get(Collection, private["id"]).share_token
    assert client.get(f"/api/collections/{token}/").status_code == 200
    assert client.get(f"/collections/share/{token}").status_code == 302
