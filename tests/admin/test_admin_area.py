"""The admin area: admins only (404 to everyone else), CSRF on every action, and what each action does."""

import re

import pytest

from webapp.extensions import db
from webapp.models import Collection, Image, Report, User

from .adminsite import OWNER

PAGES = ["/admin/", "/admin/users", "/admin/users/{owner}", "/admin/images", "/admin/images?status=failed&q=x",
         "/admin/collections", "/admin/uploads", "/admin/reports", "/admin/reports?state=resolved"]


def actions(site, image_id):
    ids = dict(site.ids, image=image_id)
    return [
        ("/admin/users/{owner}/limits", {"quota": "1GiB", "pending": "5"}),
        ("/admin/users/{other}/active", {"action": "deactivate"}),
        ("/admin/users/{other}/admin", {"action": "grant"}),
        ("/admin/images/reprocess", {"image_id": str(image_id)}),
        ("/admin/images/{image}/unpublish", {"reason": "copyright"}),
        ("/admin/images/{image}/republish", {}),
        ("/admin/images/{image}/delete", {"reason": "spam"}),
        ("/admin/collections/{public_collection}/unpublish", {"reason": "copyright"}),
        ("/admin/collections/{public_collection}/republish", {}),
        ("/admin/collections/{public_collection}/delete", {"reason": "spam"}),
        ("/admin/reports/1/resolve", {"resolution": "done"}),
    ], ids


def test_every_page_is_for_admins_only(site):
    site.image(Image.FAILED, error="The file is not NIfTI")
    for path in PAGES:
        path = path.format(**site.ids)
        assert site.clients["admin"].get(path).status_code == 200, path
        for actor in ("anonymous", "other", "owner"):
            assert site.clients[actor].get(path).status_code == 404, (path, actor)


def test_every_action_is_404_to_others_and_400_without_csrf(site):
    image_id = site.image()
    rows, ids = actions(site, image_id)
    for path, data in rows:
        path = path.format(**ids)
        for actor in ("anonymous", "other", "owner"):
            assert site.post(actor, path, data).status_code == 404, (path, actor)
        assert site.post("admin", path, data, token=False).status_code == 400, path
    with site.app.app_context():
        image = db.session.get(Image, image_id)
        other = db.session.get(User, site.ids["other"])
        owner = db.session.get(User, site.ids["owner"])
        assert image.unpublished_reason is None and image.status == Image.READY
        assert other.active and not other.has_role("admin") and owner.quota_bytes is None
        assert db.session.get(Collection, site.ids["public_collection"]).unpublished_reason is None


def test_user_search_and_limits(site):
    site.image()
    page = site.clients["admin"].get("/admin/users?q=owner").get_data(as_text=True)
    assert OWNER in page and "other@example.org" not in page
    answer = site.post("admin", f"/admin/users/{site.ids['owner']}/limits", {"quota": "50GiB", "pending": "7"})
    assert answer.status_code == 302
    with site.app.app_context():
        owner = db.session.get(User, site.ids["owner"])
        assert owner.quota_bytes == 50 * 1024**3 and owner.max_pending_images == 7
    detail = site.clients["admin"].get(f"/admin/users/{site.ids['owner']}").get_data(as_text=True)
    assert "50.0 GiB" in detail
    bad = site.post("admin", f"/admin/users/{site.ids['owner']}/limits", {"quota": "lots"}, follow_redirects=True)
    assert "quota=&#39;lots&#39;" in bad.get_data(as_text=True)
    site.post("admin", f"/admin/users/{site.ids['owner']}/limits", {"quota": "", "pending": ""})
    with site.app.app_context():
        owner = db.session.get(User, site.ids["owner"])
        assert owner.quota_bytes is None and owner.max_pending_images is None


def test_deactivate_signs_out_and_reactivate(site):
    path = f"/admin/users/{site.ids['other']}/active"
    assert site.post("admin", path, {"action": "deactivate"}).status_code == 302
    assert site.clients["other"].get("/accounts/profile").status_code == 302  # signed out
    with site.app.app_context():
        assert not db.session.get(User, site.ids["other"]).active
    site.post("admin", path, {"action": "reactivate"})
    with site.app.app_context():
        assert db.session.get(User, site.ids["other"]).active
    yourself = site.post("admin", f"/admin/users/{site.ids['admin']}/active", {"action": "deactivate"})
    assert yourself.status_code == 400


def test_give_and_take_the_admin_role(site):
    path = f"/admin/users/{site.ids['other']}/admin"
    site.post("admin", path, {"action": "grant"})
    assert site.clients["other"].get("/admin/").status_code == 200
    site.post("admin", path, {"action": "revoke"})
    assert site.clients["other"].get("/admin/").status_code == 404
    assert site.post("admin", f"/admin/users/{site.ids['admin']}/admin", {"action": "revoke"}).status_code == 400


def test_images_filter_by_status_and_failure_reason(site):
    failed = site.image(Image.FAILED, error="dim[0]=7: expected 3 or 4", name="broken.nii")
    ready = site.image(name="fine.nii.gz")
    page = site.clients["admin"].get("/admin/images?status=failed").get_data(as_text=True)
    assert f'data-image="{failed}"' in page and f'data-image="{ready}"' not in page
    assert "dim[0]=7: expected 3 or 4" in page
    found = site.clients["admin"].get("/admin/images?q=expected+3").get_data(as_text=True)
    assert f'data-image="{failed}"' in found and f'data-image="{ready}"' not in found


def test_reprocess_many_makes_failed_images_ready(site):
    first = site.image(Image.FAILED, error="A temporary problem")
    second = site.image(Image.FAILED, error="A temporary problem")
    answer = site.post("admin", "/admin/images/reprocess", {"image_id": [str(first), str(second), "nope"]})
    assert answer.status_code == 302
    with site.app.app_context():
        assert [db.session.get(Image, i).status for i in (first, second)] == ["ready", "ready"]


def test_collections_search_and_unpublish(site, outbox):
    page = site.clients["admin"].get("/admin/collections?q=public").get_data(as_text=True)
    assert "A public study" in page and "A private study" not in page
    cid = site.ids["public_collection"]
    site.post("admin", f"/admin/collections/{cid}/unpublish", {"reason": "Data from someone else's paper"})
    for actor in ("anonymous", "other"):
        assert site.clients[actor].get(f"/collections/{cid}").status_code == 404
        assert site.clients[actor].get(f"/api/collections/{cid}/").status_code == 404
        assert "A public study" not in site.clients[actor].get("/collections/").get_data(as_text=True)
    for actor in ("owner", "admin"):
        assert site.clients[actor].get(f"/collections/{cid}").status_code == 200
    [message] = outbox()
    assert message["To"] == OWNER and "Data from someone else's paper" in message.get_body(("plain",)).get_content()
    site.post("admin", f"/admin/collections/{cid}/republish")
    assert site.clients["anonymous"].get(f"/collections/{cid}").status_code == 200


def test_takedown_needs_a_reason(site):
    image_id = site.image()
    answer = site.post("admin", f"/admin/images/{image_id}/unpublish", {"reason": "  "}, follow_redirects=True)
    assert "reason: write the reason" in answer.get_data(as_text=True)
    with site.app.app_context():
        assert db.session.get(Image, image_id).unpublished_reason is None


def test_delete_with_reason_emails_the_owner(site, outbox):
    image_id = site.image()
    assert site.post("admin", f"/admin/images/{image_id}/delete", {"reason": "Spam"}).status_code == 302
    with site.app.app_context():
        assert db.session.get(Image, image_id) is None
    [message] = outbox()
    assert "was deleted" in message["Subject"] and "Spam" in message.get_body(("plain",)).get_content()
    cid = site.ids["public_collection"]
    site.post("admin", f"/admin/collections/{cid}/delete", {"reason": "Abuse"})
    with site.app.app_context():
        assert db.session.get(Collection, cid) is None
    assert "Abuse" in outbox()[-1].get_body(("plain",)).get_content()


def test_unfinished_uploads_are_listed(site):
    from tests.tus.tusclient import metadata_header
    from webapp.models import ApiToken

    with site.app.app_context():
        _, secret = ApiToken.issue(db.session.get(User, site.ids["owner"]), "t")
        db.session.commit()
    headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Token {secret}", "Upload-Length": "1000",
               "Upload-Metadata": metadata_header(filename="half.nii.gz", collection_id=site.ids["public_collection"])}
    assert site.clients["anonymous"].post("/api/uploads/", headers=headers).status_code == 201
    page = site.clients["admin"].get("/admin/uploads").get_data(as_text=True)
    assert "half.nii.gz" in page and OWNER in page


def test_dashboard_numbers(site, monkeypatch):
    from webapp import dashboard

    site.image(Image.FAILED, error="x")
    site.image()
    monkeypatch.setattr(dashboard, "workers_alive", lambda: ["celery@worker-1"])
    page = site.clients["admin"].get("/admin/").get_data(as_text=True)
    statuses = dict(re.findall(r'images\?status=(\w+)">\w+</a></th><td>(\d+)</td>', page))
    assert statuses["failed"] == "1" and statuses["ready"] == "1" and statuses["queued"] == "0"
    assert "celery@worker-1" in page and "Emails waiting" in page and "p90" in page


def test_dashboard_pieces(site):
    from datetime import timedelta

    from webapp import dashboard
    from webapp.models import utcnow

    image_id = site.image()
    with site.app.app_context():
        image = db.session.get(Image, image_id)
        image.processing_at = utcnow() - timedelta(seconds=30)
        image.ready_at = image.processing_at + timedelta(seconds=12)
        db.session.commit()
        timing = dashboard.processing_percentiles()
        assert timing["count"] == 1 and timing["p50"] == pytest.approx(12, abs=0.01)
        assert dashboard.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
        assert dashboard.storage_used()["originals"] == len(site.nifti)
        assert dashboard.emails_waiting() == 1
        assert set(dashboard.queue_depths()) == {"neurodrop"}


def test_reports_are_resolved(site):
    image_id = site.image()
    with site.app.app_context():
        db.session.add(Report(reporter_id=site.ids["other"], image_id=image_id, reason="spam", text="junk map"))
        db.session.commit()
        report_id = db.session.scalar(db.select(Report.id))
    page = site.clients["admin"].get("/admin/reports").get_data(as_text=True)
    assert "junk map" in page and "Spam or not a brain map" in page
    site.post("admin", f"/admin/reports/{report_id}/resolve", {"resolution": "unpublished it"})
    assert "junk map" not in site.clients["admin"].get("/admin/reports").get_data(as_text=True)
    resolved = site.clients["admin"].get("/admin/reports?state=resolved").get_data(as_text=True)
    assert "unpublished it" in resolved


def test_admin_link_in_the_menu_for_admins_only(site):
    assert 'href="/admin/"' in site.clients["admin"].get("/").get_data(as_text=True)
    assert 'href="/admin/"' not in site.clients["owner"].get("/").get_data(as_text=True)


def test_worker_heartbeats_name_the_workers_a_broker_cannot_ping(site):
    from webapp import heartbeats

    with site.app.app_context():
        heartbeats.beat("celery@one", 30)
        heartbeats.beat("celery@two", 30)
        assert heartbeats.recent_workers() == ["celery@one", "celery@two"]
        heartbeats.cache.delete(heartbeats.PREFIX + "celery@one")  # what its timeout does when it stops beating
        assert heartbeats.recent_workers() == ["celery@two"]
        heartbeats.beat("celery@two", 30)
        assert heartbeats.cache.get(heartbeats.REGISTRY) == ["celery@two"]  # the stopped one is forgotten
