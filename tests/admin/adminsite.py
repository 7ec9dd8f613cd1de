"""The admin tests' site: an owner, another user and an administrator, logged in."""

from dataclasses import dataclass, field

from tests.helpers import csrf_token
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
