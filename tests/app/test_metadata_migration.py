"""Issue 22's migration moves values sent before their fields existed (kept in ``extra``) into the new columns."""

import json

import sqlalchemy as sa
from flask_migrate import upgrade

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db

from ..conftest import SERVER_DATABASE_URL, USES_POSTGRES, drop_postgres_database, fresh_postgres_database

NOW = "2026-01-01 00:00:00"


def test_extras_named_like_new_fields_become_columns(tmp_path, monkeypatch):
    url = fresh_postgres_database(SERVER_DATABASE_URL, "nd_h22") if USES_POSTGRES else f"sqlite:///{tmp_path}/o.db"
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        moved_on(create_app(TestConfig()))
    finally:
        if USES_POSTGRES:
            drop_postgres_database(url)


def moved_on(app):
    """Old rows with such extras, then the upgrade, then what the columns and ``extra`` hold."""
    with app.app_context():
        upgrade(revision="similar000001")
        image_extra = ('{"smoothness_fwhm": "6", "cognitive_paradigm_cogatlas": "trm_4f24126c22011", "Sex": "F", '
                       '"tags": "motor", "age": "old"}')
        for statement in (
            "INSERT INTO \"user\" (id, email, active, fs_uniquifier, created_at) "
            "VALUES (1, 'a@x.org', true, 'u1', :now)",
            "INSERT INTO collection (id, owner_id, name, description, authors, private, share_token, extra, "
            "image_count, add_date, modify_date) VALUES (1, 1, 'c', '', '', false, 's', "
            "'{\"echo_time\": 30, \"used_smoothing\": \"true\", \"lab\": \"x\"}', 1, :now, :now)",
            "INSERT INTO image (id, collection_id, uploader_id, name, description, original_filename, map_type, "
            "modality, target_template_image, extra, storage_key, file_size, sha256, status, attempts, "
            "uploaded_at, status_changed_at, is_thresholded, not_mni, is_4d, add_date, modify_date) VALUES "
            f"(1, 1, 1, 'm', '', 'm.nii', 'T', 'Other', 'GenericMNI', '{image_extra}', 'k1', 1, 's', 'ready', 1, "
            ":now, :now, false, false, false, :now, :now)",
        ):
            db.session.execute(sa.text(statement), {"now": NOW})
        db.session.commit()
        upgrade()
        image = db.session.execute(sa.text(
            "SELECT smoothness_fwhm, cognitive_paradigm_cogatlas, cognitive_paradigm_cogatlas_id, sex, age, extra "
            "FROM image")).one()
        assert tuple(image[:5]) == (6.0, None, "trm_4f24126c22011", "F", None)
        assert as_dict(image[5]) == {"tags": "motor", "age": "old"}, "what is not a field (or not its type) stays"
        collection = db.session.execute(sa.text("SELECT echo_time, used_smoothing, extra FROM collection")).one()
        assert (collection[0], bool(collection[1]), as_dict(collection[2])) == (30.0, True, {"lab": "x"})
        db.engine.dispose()


def as_dict(value):
    """A JSON column read with plain SQL: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value
