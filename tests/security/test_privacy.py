"""Issue 21: an uploader's email (even the part before the @) reaches no one but its owner and the admins."""

import re

from tests.helpers import csrf_token
from webapp.extensions import db
from webapp.models import User

from .test_headers import get_pages

DISTINCT = "zelda.quux"


def private_urls(world):
    token, collection_id, image_id = (world.ids[k] for k in ("share_token", "private_collection", "private_image"))
    return [
        f"/collections/{collection_id}", f"/images/{image_id}", f"/collections/share/{token}",
        f"/api/collections/{token}/", f"/api/collections/{token}/images/",
        f"/api/images/{image_id}/?share_token={token}",
    ]


def test_no_page_or_api_answer_shows_another_users_email(app, world):
    with app.app_context():
        owner = db.session.get(User, world.ids["owner"])
        owner.email = f"{DISTINCT}@example.org"
        db.session.commit()
        owner_id = owner.id
    urls = [url for _, url in get_pages(app, world)] + private_urls(world)
    urls += [f"/api/collections/?owner={owner_id}", "/api/collections/", "/api/images/"]
    shown = []
    for actor in ("anonymous", "other", "share"):
        for url in urls:
            answer = world.clients[actor].get(url)
            if answer.status_code < 500 and DISTINCT.encode() in answer.get_data().lower():
                shown.append((actor, url))
    assert shown == []
    answer = world.clients["anonymous"].get(f"/api/collections/{world.ids['public_collection']}/")
    assert answer.get_json()["owner_name"] == f"user {owner_id}"
    page = world.clients["other"].get(f"/collections/{world.ids['public_collection']}").get_data(as_text=True)
    assert re.search(rf"<th scope=\"row\">Owner</th><td>user {owner_id}</td>", page)
    assert DISTINCT in world.clients["owner"].get("/accounts/profile").get_data(as_text=True)


def test_a_display_name_is_chosen_at_registration_and_on_the_profile(app, client, world):
    register = client.post("/accounts/register", data={
        "email": "newcomer@example.org", "public_name": " Dr\r\n Newcomer ", "password": "a long enough passphrase",
        "password_confirm": "a long enough passphrase", "csrf_token": csrf_token(client, "/accounts/register")})
    assert register.status_code == 302, register.get_data(as_text=True)[:500]
    with app.app_context():
        assert User.query.filter_by(email="newcomer@example.org").one().public_name == "Dr Newcomer"

    owner = world.clients["owner"]
    changed = owner.post("/accounts/profile", data={"public_name": "Zelda's lab",
                                                    "csrf_token": csrf_token(owner, "/accounts/profile")})
    assert changed.status_code == 302
    api = world.clients["anonymous"].get(f"/api/collections/{world.ids['public_collection']}/").get_json()
    assert api["owner_name"] == "Zelda's lab"
    image_page = world.clients["anonymous"].get(f"/images/{world.ids['public_image']}").get_data(as_text=True)
    assert "Zelda&#39;s lab" in image_page
    too_long = owner.post("/accounts/profile", data={"public_name": "x" * 81,
                                                     "csrf_token": csrf_token(owner, "/accounts/profile")})
    assert too_long.status_code == 400
    owner.post("/accounts/profile", data={"public_name": "  ", "csrf_token": csrf_token(owner, "/accounts/profile")})
    with app.app_context():
        assert db.session.get(User, world.ids["owner"]).display_name == f"user {world.ids['owner']}"
