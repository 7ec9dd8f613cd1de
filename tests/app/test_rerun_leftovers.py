"""A re-run removes the files of the run before it that it no longer makes."""

from tests.niftigen import mni_like_map
from webapp.extensions import db, get_storage
from webapp.models import Artifact, Collection, Image
from webapp.processing import tasks
from webapp.storage import artifact_key, new_key


def test_a_rerun_removes_kinds_it_no_longer_makes_and_on_demand_slices(app, accounts, tmp_path):
    owner_id = accounts.create("rerun@example.org")
    content = mni_like_map(tmp_path / "m.nii.gz").read_bytes()
    with app.app_context():
        storage = get_storage()
        stored = storage.put_bytes(new_key("originals"), content)
        collection = Collection(owner_id=owner_id, name="Reruns")
        image = Image(collection=collection, uploader_id=owner_id, name="m", storage_key=stored.key,
                      file_size=stored.size, sha256=stored.sha256, status=Image.UPLOADED)
        db.session.add(image)
        db.session.commit()
        image_id = image.id
        assert tasks.process_image.delay(image_id).get() == "ready"
        kept = {a.kind: a.storage_key for a in Artifact.query.filter_by(image_id=image_id)}
        for kind in ("slice-0123456789abcdef", "retired_kind"):
            old = storage.put_bytes(artifact_key(image_id, kind), b"old picture")
            db.session.add(Artifact(image_id=image_id, kind=kind, storage_key=old.key, size=old.size))
        db.session.get(Image, image_id).set_status(Image.UPLOADED)
        db.session.commit()

        assert tasks.process_image.delay(image_id).get() == "ready"
        again = {a.kind: a.storage_key for a in Artifact.query.filter_by(image_id=image_id)}
        assert again == kept
        assert all(storage.exists(key) for key in again.values())
        assert not storage.exists(artifact_key(image_id, "slice-0123456789abcdef"))
        assert not storage.exists(artifact_key(image_id, "retired_kind"))
