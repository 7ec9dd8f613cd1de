"""The security tests' world: users of every kind, a public and a private collection, and the inline-code finder."""

from dataclasses import dataclass, field
from html.parser import HTMLParser

from tests.helpers import csrf_token
from tests.niftigen import mni_like_map
from webapp.extensions import db, get_storage
from webapp.ingest import add_image
from webapp.models import ApiToken, Collection, User
from webapp.storage import new_key

OWNER, OTHER, ADMIN = "owner@example.org", "other@example.org", "admin@example.org"
PASSWORD = "correct horse battery"
ACTORS = ("anonymous", "other", "owner", "admin", "share")


@dataclass
class World:
    app: object
    ids: dict = field(default_factory=dict)
    clients: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def csrf(self, actor, path="/"):
        return csrf_token(self.clients[actor], path)


def processed_image(collection, user, nifti, filename):
    """A stored, processed (``ready``) image: the same steps as the upload route, run in-process."""
    from webapp.processing.tasks import process_image

    stored = get_storage().put_bytes(new_key("originals"), nifti)
    image = add_image(collection, user, stored, filename)
    db.session.commit()
    process_image(image.id)
    db.session.refresh(image)
    assert image.status == "ready", image.error
    return image.id


def build_world(app, accounts, tmp_path):
    world = World(app)
    nifti = mni_like_map(tmp_path / "map.nii.gz", voxel_mm=8.0).read_bytes()
    for name, email in (("owner", OWNER), ("other", OTHER)):
        world.ids[name] = accounts.create(email, PASSWORD)
    world.ids["admin"] = accounts.create(ADMIN, PASSWORD, admin=True)
    with app.app_context():
        owner = db.session.get(User, world.ids["owner"])
        for privacy in ("public", "private"):
            collection = Collection(owner=owner, name=f"A {privacy} study", private=privacy == "private")
            db.session.add(collection)
            db.session.commit()
            world.ids[f"{privacy}_collection"] = collection.id
            world.ids[f"{privacy}_image"] = processed_image(collection, owner, nifti, f"{privacy}.nii.gz")
        world.ids["share_token"] = db.session.get(Collection, world.ids["private_collection"]).share_token
        for actor in ("owner", "other", "admin"):
            _, world.tokens[actor] = ApiToken.issue(db.session.get(User, world.ids[actor]), "security tests")
        db.session.commit()
    for actor in ACTORS:
        world.clients[actor] = app.test_client()
    for actor, email in (("owner", OWNER), ("other", OTHER), ("admin", ADMIN)):
        answer = accounts.login(email, PASSWORD, client=world.clients[actor])
        assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    opened = world.clients["share"].get(f"/collections/share/{world.ids['share_token']}")
    assert opened.status_code in (200, 302)
    return world


class InlineCode(HTMLParser):
    """Collects what a strict Content-Security-Policy would block: inline scripts, styles and handlers."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name == "style":
                self.found.append(f'style="{value}" on <{tag}>')
            if name.startswith("on"):
                self.found.append(f"{name}= handler on <{tag}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: URL in <{tag} {name}>")


def inline_code_in(html):
    parser = InlineCode()
    parser.feed(html)
    return parser.found
