"""A small site for the admin tests: an admin, a researcher with a public collection, another user.

Each actor has a test client logged in through the real form; ``image`` makes a stored map
(a real NIfTI by default) in the researcher's collection with the status asked for.
"""

from dataclasses import dataclass, field

import pytest

from tests.conftest import csrf_token
from tests.niftigen import mni_like_map
from webapp.extensions import db, get_storage
from webapp.ingest import add_image
from webapp.models import Collection, Image, User
from webapp.storage import new_key

ADMIN, OWNER, OTHER = "admin@example.org", "owner@example.org", "other@example.org"
PASSWORD = "correct horse battery"


@dataclass
class Site:
    app: object
    nifti: bytes
    ids: dict = field(default_factory=dict)
    clients: dict = field(default_factory=dict)

    def csrf(self, actor):
        return csrf_token(self.clients[actor], "/accounts/login" if actor == "anonymous" else "/")

    def post(self, actor, path, data=None, token=True, **kwargs):
        data = dict(data or {})
        if token:
            data["csrf_token"] = self.csrf(actor)
        return self.clients[actor].post(path, data=data, **kwargs)

    def image(self, status=Image.READY, error=None, content=None, name="map.nii.gz", collection="public"):
        """A stored image row in the researcher's collection, left in ``status``."""
        with self.app.app_context():
            stored = get_storage().put_bytes(new_key("originals"), content if content is not None else self.nifti)
            coll = db.session.get(Collection, self.ids[f"{collection}_collection"])
            image = add_image(coll, db.session.get(User, self.ids["owner"]), stored, name)
            image.set_status(status, error=error)
            db.session.commit()
            return image.id


@pytest.fixture
def site(app, accounts, tmp_path):
    nifti = mni_like_map(tmp_path / "map.nii.gz", voxel_mm=8.0).read_bytes()
    result = Site(app, nifti)
    result.ids["admin"] = accounts.create(ADMIN, PASSWORD, admin=True)
    result.ids["owner"] = accounts.create(OWNER, PASSWORD)
    result.ids["other"] = accounts.create(OTHER, PASSWORD)
    with app.app_context():
        for privacy in ("public", "private"):
            collection = Collection(owner_id=result.ids["owner"], name=f"A {privacy} study",
                                    private=privacy == "private")
            db.session.add(collection)
            db.session.commit()
            result.ids[f"{privacy}_collection"] = collection.id
    for actor, email in (("admin", ADMIN), ("owner", OWNER), ("other", OTHER)):
        result.clients[actor] = app.test_client()
        assert accounts.login(email, PASSWORD, client=result.clients[actor]).status_code == 302
    result.clients["anonymous"] = app.test_client()
    return result
