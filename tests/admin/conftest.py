"""A small site for the admin tests: an admin, a researcher with a public collection, another user.

Each actor has a test client logged in through the real form; ``image`` makes a stored map
(a real NIfTI by default) in the researcher's collection with the status asked for."""

import pytest

from tests.niftigen import mni_like_map
from webapp.extensions import db
from webapp.models import Collection

from .adminsite import ADMIN, OTHER, OWNER, PASSWORD, Site


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
