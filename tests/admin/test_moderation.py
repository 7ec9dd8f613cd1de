"""Unpublishing a public map, reporting maps and collections, and the operators' commands."""

import pytest

from webapp.extensions import db
from webapp.models import Image, Report, User

from .adminsite import OWNER


def test_an_unpublished_map_is_gone_for_all_but_owner_and_admins(site, outbox):
    image_id = site.image()
    cid = site.ids["public_collection"]
    anonymous = site.clients["anonymous"]
    assert anonymous.get(f"/images/{image_id}").status_code == 200
    assert f"/images/{image_id}" in anonymous.get("/images/").get_data(as_text=True)
    cached = anonymous.get(f"/images/{image_id}")
    assert cached.headers.get("X-Page-Cache") == "hit"
    assert anonymous.get("/api/images/").get_json()["count"] == 1

    answer = site.post("admin", f"/admin/images/{image_id}/unpublish", {"reason": "Copied from a paper"})
    assert answer.status_code == 302

    for actor in ("anonymous", "other"):
        client = site.clients[actor]
        assert client.get(f"/images/{image_id}").status_code == 404, actor
        assert client.get(f"/images/{image_id}/file").status_code == 404, actor
        assert client.get(f"/api/images/{image_id}/").status_code == 404, actor
        assert client.get(f"/api/images/{image_id}/file").status_code == 404, actor
        assert f"/images/{image_id}" not in client.get("/images/").get_data(as_text=True), actor
        assert f"/images/{image_id}" not in client.get(f"/collections/{cid}").get_data(as_text=True), actor
        assert f"/images/{image_id}" not in client.get("/").get_data(as_text=True), actor
        listed = client.get("/api/images/").get_json()
        assert listed["count"] == 0 and listed["results"] == [], actor
        assert client.get(f"/api/collections/{cid}/images/").get_json()["results"] == [], actor
    for actor in ("owner", "admin"):
        page = site.clients[actor].get(f"/images/{image_id}")
        assert page.status_code == 200 and "Copied from a paper" in page.get_data(as_text=True)
    [message] = outbox()
    assert message["To"] == OWNER and "was unpublished" in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert "Copied from a paper" in body and f"/images/{image_id}" in body

    site.post("admin", f"/admin/images/{image_id}/republish")
    assert anonymous.get(f"/images/{image_id}").status_code == 200
    assert anonymous.get("/api/images/").get_json()["count"] == 1


def test_an_unpublished_collection_ignores_its_share_link(site):
    cid = site.ids["private_collection"]
    with site.app.app_context():
        from webapp.models import Collection

        token = db.session.get(Collection, cid).share_token
    visitor = site.clients["anonymous"]
    visitor.get(f"/collections/share/{token}")
    assert visitor.get(f"/collections/{cid}").status_code == 200
    site.post("admin", f"/admin/collections/{cid}/unpublish", {"reason": "Abuse"})
    assert visitor.get(f"/collections/{cid}").status_code == 404
    assert visitor.get(f"/api/collections/{token}/").status_code == 404


def test_signed_in_visitors_report_a_map_and_a_collection(site):
    image_id = site.image()
    cid = site.ids["public_collection"]
    other = site.clients["other"]
    assert f'href="/images/{image_id}/report"' in other.get(f"/images/{image_id}").get_data(as_text=True)
    form = other.get(f"/images/{image_id}/report").get_data(as_text=True)
    assert "Copyright or licence problem" in form
    answer = site.post("other", f"/images/{image_id}/report", {"reason": "copyright", "text": "My figure"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/images/{image_id}")
    site.post("other", f"/collections/{cid}/report", {"reason": "spam"})
    bad = site.post("other", f"/collections/{cid}/report", {"reason": "boring"})
    assert bad.status_code == 400 and "reason=&#39;boring&#39;" in bad.get_data(as_text=True)
    with site.app.app_context():
        reports = db.session.scalars(db.select(Report).order_by(Report.id)).all()
        assert [(r.image_id, r.collection_id, r.reason, r.text) for r in reports] == [
            (image_id, None, "copyright", "My figure"), (None, cid, "spam", "")]
    listed = site.clients["admin"].get("/admin/reports").get_data(as_text=True)
    assert "My figure" in listed and "other@example.org" in listed
    login = site.clients["anonymous"].get(f"/images/{image_id}/report")
    assert login.status_code == 302 and "/accounts/login" in login.headers["Location"]


@pytest.fixture
def reports_limited(monkeypatch):
    """Rate limits on (the suite's TestConfig has them off) before the app is made, two reports a minute."""
    monkeypatch.setenv("RATELIMIT_ENABLED", "true")
    monkeypatch.setenv("RATELIMIT_REPORTS", "2/minute")


def test_reports_are_rate_limited(reports_limited, site):
    cid = site.ids["public_collection"]
    codes = [site.post("other", f"/collections/{cid}/report", {"reason": "spam"}).status_code for _ in range(3)]
    assert codes == [302, 302, 429]
    assert site.clients["other"].get(f"/collections/{cid}/report").status_code == 200, "reading the form is free"


def test_cli_quota_deactivate_and_unpublish(site, runner, outbox):
    result = runner.invoke(args=["accounts", "quota", OWNER, "50GiB"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["accounts", "pending-limit", OWNER, "3"]).exit_code == 0
    with site.app.app_context():
        owner = db.session.get(User, site.ids["owner"])
        assert owner.quota_bytes == 50 * 1024**3 and owner.max_pending_images == 3
    bad = runner.invoke(args=["accounts", "quota", OWNER, "plenty"])
    assert bad.exit_code != 0 and "'plenty' is not a size" in bad.output
    assert runner.invoke(args=["accounts", "quota", OWNER, "default"]).exit_code == 0

    assert runner.invoke(args=["accounts", "deactivate", "other@example.org"]).exit_code == 0
    with site.app.app_context():
        assert not db.session.get(User, site.ids["other"]).active
    assert site.clients["other"].get("/accounts/profile").status_code == 302

    image_id = site.image()
    result = runner.invoke(args=["images", "unpublish", str(image_id), "--reason", "Not a brain map"])
    assert result.exit_code == 0, result.output
    with site.app.app_context():
        assert db.session.get(Image, image_id).unpublished_reason == "Not a brain map"
    assert "Not a brain map" in outbox()[-1].get_body(("plain",)).get_content()
    assert runner.invoke(args=["images", "unpublish", "999", "--reason", "x"]).exit_code != 0
    assert runner.invoke(args=["images", "unpublish", str(image_id)]).exit_code != 0


@pytest.mark.parametrize("bad", ["", "   "])
def test_cli_unpublish_needs_a_reason(site, runner, bad):
    image_id = site.image()
    result = runner.invoke(args=["images", "unpublish", str(image_id), "--reason", bad])
    assert result.exit_code != 0 and "reason" in result.output
