"""Callers with API tokens, and images stored directly (they skip the worker)."""

import io

from webapp.extensions import db, get_storage
from webapp.models import Artifact, Collection, Image, ImageStats
from webapp.storage import artifact_key, new_key


class Caller:
    """A user with an API token, calling the app through the test client."""

    def __init__(self, app, client, user_id, secret, email):
        self.app, self.client, self.id, self.secret, self.email = app, client, user_id, secret, email

    @property
    def headers(self):
        return {"Authorization": f"Token {self.secret}"}

    def call(self, method, path, headers=None, **kwargs):
        return self.client.open(path, method=method, headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("PATCH", path, **kwargs)

    def put(self, path, **kwargs):
        return self.call("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)

    def new_collection(self, name="Working memory", **fields):
        answer = self.post("/api/collections/", json={"name": name, **fields})
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()


def add_stored_image(app, collection_id, *, payload=b"\x1f\x8b fake gzip", status=Image.READY, stats=None,
                     thumbnail=True, **fields):
    """An image row with stored bytes (and a glass brain when ready), without running the worker; returns its id."""
    with app.app_context():
        storage = get_storage()
        stored = storage.put_bytes(new_key("originals"), payload)
        collection = db.session.get(Collection, collection_id)
        values = {"name": "map", "original_filename": "map.nii.gz", **fields}
        image = Image(collection=collection, uploader_id=collection.owner_id, storage_key=stored.key,
                      file_size=stored.size, sha256=stored.sha256, status=status, **values)
        db.session.add(image)
        db.session.flush()
        if stats is not None:
            db.session.add(ImageStats(image_id=image.id, data=stats))
        if thumbnail and status == Image.READY:
            key = artifact_key(image.id, "glass_brain")
            png = storage.put_bytes(key, b"\x89PNG\r\n\x1a\n fake")
            db.session.add(Artifact(image_id=image.id, kind="glass_brain", storage_key=key, size=png.size))
        collection.refresh_image_count()
        db.session.commit()
        return image.id


def nifti_part(path, name=None):
    return (io.BytesIO(path.read_bytes()), name or path.name)
