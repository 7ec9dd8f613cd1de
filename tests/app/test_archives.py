"""Whole studies through the upload page (tasks run eagerly): archives, pairs, inferred names, one email per batch."""

import io

import pytest

from tests import archives as build
from webapp.extensions import db
from webapp.models import Batch, Collection, Image, User

from ..helpers import collection_id_of, csrf_token, message_text

OWNER = "owner@example.org"


@pytest.fixture
def collection_id(app, client, accounts):
    owner_id = accounts.create(OWNER)
    cid = collection_id_of(app, owner_id, "Study")
    accounts.login(OWNER)
    return cid


def post_files(client, cid, files):
    data = {"file": [(io.BytesIO(content), name) for name, content in files],
            "csrf_token": csrf_token(client, f"/collections/{cid}/upload")}
    return client.post(f"/collections/{cid}/upload", data=data, headers={"Accept": "application/json"},
                       content_type="multipart/form-data")


def zipped(tmp_path, members, name="study.zip"):
    return build.write_zip(tmp_path / name, members).read_bytes()


def batch_of(client, answer):
    [link] = answer.get_json()["batches"]
    return client.get(link["url"], headers={"Accept": "application/json"}).get_json()


def by_name(batch):
    return {member["name"]: member for member in batch["members"]}


def test_an_spm_zip_becomes_images_with_inferred_metadata_and_one_email(app, client, collection_id, tmp_path, outbox):
    answer = post_files(client, collection_id, [("spm.zip", zipped(tmp_path, build.spm_folder()))])
    assert answer.status_code == 201, answer.get_data(as_text=True)
    batch = batch_of(client, answer)
    members = by_name(batch)
    assert batch["complete"] and batch["status"] == "closed"
    assert members["spm/spmT_0001.nii"]["state"] == "ready"
    assert members["spm/con_0001.img"]["state"] == "ready", members["spm/con_0001.img"]
    assert members["spm/SPM.mat"]["state"] == "skipped"
    with app.app_context():
        t_map = db.session.get(Image, members["spm/spmT_0001.nii"]["image_id"])
        assert (t_map.map_type, t_map.contrast_definition) == ("T", "contrast 1")
        assert t_map.extra["inferred"]["map_type"] == "SPM output name spmT_0001"
        pair = db.session.get(Image, members["spm/con_0001.img"]["image_id"])
        assert pair.map_type == "U" and pair.original_filename == "con_0001.nii.gz"
        assert pair.extra["import_notes"]["format"] == "analyze-7.5"
        assert len(pair.extra["original_pair"]) == 2
    api_t_map = client.get(f"/api/images/{members['spm/spmT_0001.nii']['image_id']}/").get_json()
    assert api_t_map["contrast_definition"] == "contrast 1" and api_t_map["map_type"] == "T map"
    page = client.get(f"/images/{members['spm/con_0001.img']['image_id']}").get_data(as_text=True)
    assert "radiological" in page and "inferred" in page and "con_0001.hdr" in page
    half = client.get(f"/collections/images/{members['spm/con_0001.img']['image_id']}/original/0")
    assert half.status_code == 200 and half.data == build.spm_folder()["spm/con_0001.hdr"]
    [message] = [m for m in outbox() if m["X-Neurodrop-Batch"]]
    assert "spm.zip" in message["Subject"] and "2 ready" in message["Subject"] and "1 skipped" in message["Subject"]
    text = message_text(message)
    assert "spm/SPM.mat: skipped" in text and "/images/" in text and "radiological" in text
    assert not [m for m in outbox() if m["X-Neurodrop-Image"]]


def test_hostile_members_are_skipped_and_good_ones_still_become_images(app, client, collection_id, tmp_path):
    inner = zipped(tmp_path, {"x.nii": b"x"}, "inner.zip")
    path = build.write_zip(tmp_path / "hostile.zip", {
        "../../etc/passwd": b"root:x:0:0", "/abs/zstat1.nii.gz": b"x", "inner.zip": inner,
        "ok/zstat1.nii.gz": build.nifti_bytes(build.small_map(3))})
    build.add_zip_symlink(path, "link.nii", "/etc/passwd")
    batch = batch_of(client, post_files(client, collection_id, [("hostile.zip", path.read_bytes())]))
    members = by_name(batch)
    assert members["ok/zstat1.nii.gz"]["state"] == "ready"
    assert "outside the archive" in members["../../etc/passwd"]["reason"]
    assert "absolute path" in members["/abs/zstat1.nii.gz"]["reason"]
    assert "archive inside the archive" in members["inner.zip"]["reason"]
    assert "symbolic link" in members["link.nii"]["reason"]
    with app.app_context():
        assert db.session.query(Image).count() == 1


def test_a_file_that_is_not_an_archive_ends_the_batch_with_its_reason(app, client, collection_id, outbox):
    batch = batch_of(client, post_files(client, collection_id, [("fake.zip", b"not a zip at all" * 10)]))
    assert batch["complete"] and "not a zip, a tar" in batch["error"]
    [message] = outbox()
    assert "not a zip, a tar" in message_text(message)


def test_a_truncated_zip_still_makes_the_maps_before_the_cut(app, client, collection_id, tmp_path, outbox):
    data = zipped(tmp_path, build.fsl_gfeat_tree())
    cut = data.index(b"group.gfeat/cope2.feat/stats/zstat1.nii.gz") + 200
    batch = batch_of(client, post_files(client, collection_id, [("cut.zip", data[:cut])]))
    members = by_name(batch)
    assert batch["complete"] and members["group.gfeat/cope1.feat/stats/zstat1.nii.gz"]["state"] == "ready"
    cut_member = members["group.gfeat/cope2.feat/stats/zstat1.nii.gz"]
    assert cut_member["state"] == "skipped" and "cut short" in cut_member["reason"]
    assert "truncated or damaged" in batch["error"] and "member 2" in batch["error"]
    [message] = outbox()
    assert "1 ready" in message["Subject"] and "truncated or damaged" in message_text(message)


def test_a_bids_tar_with_sidecars_fills_in_the_metadata(app, client, collection_id, tmp_path):
    tarred = build.write_tar(tmp_path / "bids.tar.gz", build.bids_tree()).read_bytes()
    members = by_name(batch_of(client, post_files(client, collection_id, [("bids.tar.gz", tarred)])))
    entry = members[f"derivatives/sub-01/{build.BIDS_NAME}.nii.gz"]
    with app.app_context():
        image = db.session.get(Image, entry["image_id"])
        assert image.name == "sub-01 faces facesGtHouses t"
        assert (image.map_type, image.analysis_level, image.target_template_image) == ("T", "S", "MNI152NLin2009cAsym")
        assert image.description == "Faces greater than houses"
        assert image.extra["degrees_of_freedom"] == 118 and image.extra["sidecar"]["Software"] == "fitlins"
    assert members["derivatives/dataset_description.json"]["reason"] == "a JSON file beside no map of the same name"
    assert f"derivatives/sub-01/{build.BIDS_NAME}.json" not in members


def test_a_pair_sent_as_two_files_becomes_one_image(app, client, collection_id):
    hdr, img = build.pair_bytes(build.small_map(4), analyze=False, big_endian=True)
    answer = post_files(client, collection_id, [("beta_0002.hdr", hdr), ("beta_0002.img", img)])
    members = by_name(batch_of(client, answer))
    assert members["beta_0002.img"]["state"] == "ready"
    with app.app_context():
        image = db.session.get(Image, members["beta_0002.img"]["image_id"])
        assert image.extra["import_notes"]["byte_order"] == "big-endian" and image.map_type == "U"


def test_two_maps_sent_together_send_one_email_unless_the_profile_asks_for_one_each(app, client, collection_id,
                                                                                   tmp_path, outbox):
    maps = [("zstat1.nii.gz", build.nifti_bytes(build.small_map(1))),
            ("b.nii.gz", build.nifti_bytes(build.small_map(2)))]
    assert post_files(client, collection_id, maps).status_code == 201
    [message] = outbox()
    assert message["X-Neurodrop-Batch"] and "2 ready" in message["Subject"]
    preference = client.post("/accounts/email-preference",
                             data={"emails": "file", "csrf_token": csrf_token(client, "/accounts/profile")})
    assert preference.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(User.email_per_file).where(User.email == OWNER)) is True
    post_files(client, collection_id, maps)
    assert len([m for m in outbox() if m["X-Neurodrop-Image"]]) == 2


def test_the_email_preference_names_a_bad_value(client, collection_id):
    answer = client.post("/accounts/email-preference",
                         data={"emails": "never", "csrf_token": csrf_token(client, "/accounts/profile")})
    assert answer.status_code == 400 and "emails=never: expected" in answer.get_data(as_text=True)


def test_a_single_map_still_gets_its_own_email(app, client, collection_id, outbox):
    post_files(client, collection_id, [("sub-01_stat-z_statmap.nii.gz", build.nifti_bytes(build.small_map(1)))])
    [message] = outbox()
    assert message["X-Neurodrop-Image"] and not message["X-Neurodrop-Batch"]
    with app.app_context():
        image = db.session.scalar(db.select(Image))
        assert (image.name, image.map_type, image.analysis_level) == ("sub-01 z", "Z", "S")
        assert db.session.query(Batch).count() == 0


def test_someone_elses_batch_is_not_found(app, client, accounts, collection_id, tmp_path):
    answer = post_files(client, collection_id, [("spm.zip", zipped(tmp_path, {"a.txt": b"x"}))])
    url = answer.get_json()["batches"][0]["url"]
    accounts.create("other@example.org")
    accounts.logout()
    accounts.login("other@example.org")
    assert client.get(url).status_code == 404


def test_an_unexpected_error_closes_the_batch_with_a_sentence_and_still_emails(app, client, collection_id, tmp_path,
                                                                              outbox, monkeypatch):
    from webapp.processing import archives as archive_import

    def broken(self, source):
        raise RuntimeError("a bug")

    monkeypatch.setattr(archive_import.Importer, "take_source", broken)
    batch = batch_of(client, post_files(client, collection_id, [("spm.zip", zipped(tmp_path, build.spm_folder()))]))
    assert batch["complete"] and "unexpected error stopped the unpacking" in batch["error"]
    [message] = outbox()
    assert "unexpected error" in message_text(message)


def test_the_sweep_unpacks_a_lost_batch_and_closes_a_group_whose_last_files_never_came(app, client, collection_id,
                                                                                      tmp_path, outbox):
    from datetime import timedelta

    from webapp import batches
    from webapp.models import utcnow
    from webapp.processing.archives import sweep_batches

    data = zipped(tmp_path, {"a/zstat1.nii.gz": build.nifti_bytes(build.small_map(1)), "b.txt": b"x"})
    with app.app_context():
        collection = db.session.get(Collection, collection_id)
        lost = batches.new_batch(collection, collection.owner, "archive", filename="lost.zip")
        lost.sources = [{"key": get_storage_put(data), "filename": "lost.zip", "size": len(data)}]
        group = batches.new_batch(collection, collection.owner, "tus", client_key="g", expected_files=3)
        lost.created_at = group.created_at = utcnow() - timedelta(days=1)
        db.session.commit()
        lost_id, group_id = lost.id, group.id
        result = sweep_batches.delay().get()
        assert result["requeued"] == [lost_id] and result["closed"] == [group_id]
        assert db.session.get(Batch, lost_id).status == Batch.CLOSED
        assert db.session.query(Image).count() == 1
    assert [m["X-Neurodrop-Batch"] for m in outbox()] == [str(lost_id)]


def get_storage_put(data):
    from webapp.extensions import get_storage
    from webapp.storage import new_key

    return get_storage().put_bytes(new_key("originals"), data).key


def test_a_zip_bomb_is_stopped_by_the_sites_bounds_and_nothing_lands_outside_storage(app, client, collection_id,
                                                                                     tmp_path):
    app.config.update(ARCHIVE_MAX_INFLATED_BYTES=2 * 1024 * 1024, ARCHIVE_MAX_RATIO=100_000)
    single_volume = build.small_map(6)[..., None]
    good = {"a/sub-02_stat-z_statmap.nii.gz": build.nifti_bytes(single_volume)}
    bomb = build.write_zip_bomb(tmp_path / "bomb.zip", 3 * 1024 * 1024, good).read_bytes()
    before = files_outside_storage(app)
    members = by_name(batch_of(client, post_files(client, collection_id, [("bomb.zip", bomb)])))
    assert members["bomb.nii"]["state"] == "skipped" and "past the 2,097,152 allowed" in members["bomb.nii"]["reason"]
    assert members["a/sub-02_stat-z_statmap.nii.gz"]["state"] == "ready"
    with app.app_context():
        image = db.session.get(Image, members["a/sub-02_stat-z_statmap.nii.gz"]["image_id"])
        assert any("(a 3D map)" in finding["message"] for finding in image.report["findings"])
    assert files_outside_storage(app) == before


def files_outside_storage(app):
    """Every file under the instance folder but outside storage and the outbox (where nothing of an archive goes)."""
    from pathlib import Path

    root, storage = Path(app.config["INSTANCE_DIR"]), Path(app.config["STORAGE_DIR"])
    outbox = Path(app.config["MAIL_OUTBOX_DIR"])
    return {path for path in root.rglob("*") if path.is_file() and storage not in path.parents
            and outbox not in path.parents}


def test_a_plainly_named_single_upload_gets_no_inferred_marks(app, client, collection_id):
    post_files(client, collection_id, [("motor.nii.gz", build.nifti_bytes(build.small_map(1)))])
    with app.app_context():
        image = db.session.scalar(db.select(Image))
        assert image.name == "motor" and "inferred" not in (image.extra or {})


def test_a_map_of_an_emailed_batch_that_is_processed_again_sends_its_own_email(app, client, collection_id, outbox):
    maps = [("a.nii.gz", build.nifti_bytes(build.small_map(1))), ("b.nii.gz", build.nifti_bytes(build.small_map(2)))]
    [first, _second] = post_files(client, collection_id, maps).get_json()["images"]
    assert len(outbox()) == 1
    page = f"/images/{first['id']}"
    answer = client.post(f"{page}/reprocess", data={"csrf_token": csrf_token(client, page)})
    assert answer.status_code == 302
    assert [m["X-Neurodrop-Image"] for m in outbox()][-1] == str(first["id"])


def test_a_pair_whose_img_is_truncated_is_listed_with_the_reason(app, client, collection_id):
    hdr, img = build.pair_bytes(build.small_map(4))
    members = by_name(batch_of(client, post_files(client, collection_id, [("x.hdr", hdr), ("x.img", img[:100])])))
    assert members["x.hdr + .img"]["state"] == "skipped" and "truncated" in members["x.hdr + .img"]["reason"]
