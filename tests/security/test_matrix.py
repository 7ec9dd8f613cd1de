"""The authorization matrix: every route × every actor × public/private, in ONE table, checked.

Actors: ``anonymous``; ``other`` (a logged-in user who owns nothing here); ``owner``; ``admin``;
``share`` (an anonymous visitor holding the private collection's share link: pages remember it in
the session, the API takes it as the collection ref or ``?share_token=``). Pages authenticate by
session cookie (with a valid CSRF token on writes: CSRF has its own tests below), the API and tus
by ``Authorization: Token``.

Private things answer 404 to whoever may not know they exist, exactly like things that do not
exist; 403 only to someone who can already see the thing. Pages that need a login send anonymous
visitors to the login form (``LOGIN``) without looking at the id, so that answer leaks nothing.

A route (or a method of a route) the table does not list fails ``test_every_route_has_a_row``.
"""

import base64
import io
import re

import pytest

from tests.helpers import csrf_token
from webapp.api.downloads import url_file_name
from webapp.extensions import db, get_storage
from webapp.models import ApiToken, Artifact, Batch, Collection, Image, Report, SimilaritySearch, Upload, User
from webapp.storage import artifact_key, new_key

from .world import ACTORS, build_world

LOGIN = "login"  # 302 to the login form
PUB, PRIV = "public", "private"

#: (endpoint, method, target) -> answers for (anonymous, other, owner, admin, share).
MATRIX = {
    # the house
    ("main.index", "GET", None):                          (200, 200, 200, 200, 200),
    ("main.health", "GET", None):                         (200, 200, 200, 200, 200),
    ("main.mni_template", "GET", None):                   (200, 200, 200, 200, 200),
    ("static", "GET", None):                              (200, 200, 200, 200, 200),
    ("security.static", "GET", None):                     (404, 404, 404, 404, 404),
    # accounts (Flask-Security's forms: logged-in users are sent on; posts carry an empty form)
    ("security.login", "GET", None):                      (200, 302, 302, 302, 200),
    ("security.login", "POST", None):                     (200, 302, 302, 302, 200),
    ("security.register", "GET", None):                   (200, 302, 302, 302, 200),
    ("security.register", "POST", None):                  (200, 302, 302, 302, 200),
    ("security.forgot_password", "GET", None):            (200, 200, 200, 200, 200),
    ("security.forgot_password", "POST", None):           (200, 200, 200, 200, 200),
    ("security.reset_password", "GET", None):             (302, 302, 302, 302, 302),
    ("security.reset_password", "POST", None):            (302, 302, 302, 302, 302),
    ("security.send_confirmation", "GET", None):          (200, 200, 200, 200, 200),
    ("security.send_confirmation", "POST", None):         (200, 200, 200, 200, 200),
    ("security.confirm_email", "GET", None):              (302, 302, 302, 302, 302),
    ("security.confirm_email", "POST", None):             (302, 302, 302, 302, 302),
    ("security.change_password", "GET", None):            (LOGIN, 200, 200, 200, LOGIN),
    ("security.change_password", "POST", None):           (LOGIN, 200, 200, 200, LOGIN),
    ("security.verify", "GET", None):                     (LOGIN, 200, 200, 200, LOGIN),
    ("security.verify", "POST", None):                    (LOGIN, 200, 200, 200, LOGIN),
    ("accounts.profile", "GET", None):                    (LOGIN, 200, 200, 200, LOGIN),
    ("accounts.profile", "POST", None):                   (LOGIN, 302, 302, 302, LOGIN),
    ("accounts.tokens", "GET", None):                     (LOGIN, 200, 200, 200, LOGIN),
    ("accounts.tokens", "POST", None):                    (LOGIN, 200, 200, 200, LOGIN),
    ("accounts.revoke_token", "POST", "owner's token"):   (LOGIN, 404, 302, 404, LOGIN),
    # collections (pages)
    ("collections.index", "GET", None):                   (200, 200, 200, 200, 200),
    ("collections.mine", "GET", None):                    (LOGIN, 200, 200, 200, LOGIN),
    ("collections.create", "GET", None):                  (LOGIN, 200, 200, 200, LOGIN),
    ("collections.create", "POST", None):                 (LOGIN, 302, 302, 302, LOGIN),
    ("collections.detail", "GET", PUB):                   (200, 200, 200, 200, 200),
    ("collections.detail", "GET", PRIV):                  (404, 404, 200, 200, 200),
    ("collections.edit", "GET", PUB):                     (LOGIN, 403, 200, 200, LOGIN),
    ("collections.edit", "GET", PRIV):                    (LOGIN, 404, 200, 200, LOGIN),
    ("collections.edit", "POST", PUB):                    (LOGIN, 403, 302, 302, LOGIN),
    ("collections.edit", "POST", PRIV):                   (LOGIN, 404, 302, 302, LOGIN),
    ("collections.delete", "GET", PUB):                   (LOGIN, 403, 200, 200, LOGIN),
    ("collections.delete", "GET", PRIV):                  (LOGIN, 404, 200, 200, LOGIN),
    ("collections.delete", "POST", PUB):                  (LOGIN, 403, 302, 302, LOGIN),
    ("collections.delete", "POST", PRIV):                 (LOGIN, 404, 302, 302, LOGIN),
    ("collections.new_share_link", "POST", PUB):          (LOGIN, 403, 302, 302, LOGIN),
    ("collections.new_share_link", "POST", PRIV):         (LOGIN, 404, 302, 302, LOGIN),
    ("collections.toggle_privacy", "POST", PUB):          (LOGIN, 403, 302, 302, LOGIN),
    ("collections.toggle_privacy", "POST", PRIV):         (LOGIN, 404, 302, 302, LOGIN),
    ("collections.shared", "GET", PRIV):                  (302, 302, 302, 302, 302),
    ("collections.shared", "GET", "bogus token"):         (404, 404, 404, 404, 404),
    ("uploads.upload", "GET", PUB):                       (LOGIN, 403, 200, 200, LOGIN),
    ("uploads.upload", "GET", PRIV):                      (LOGIN, 404, 200, 200, LOGIN),
    ("uploads.upload", "POST", PUB):                      (401, 403, 201, 201, 401),
    ("uploads.upload", "POST", PRIV):                     (401, 404, 201, 201, 401),
    ("uploads.batch", "GET", "owner's batch"):            (LOGIN, 404, 200, 200, LOGIN),
    ("uploads.original_half", "GET", PUB):                (200, 200, 200, 200, 200),
    ("uploads.original_half", "GET", PRIV):               (404, 404, 200, 200, 200),
    ("bulkedit.edit", "GET", PUB):                        (LOGIN, 403, 200, 200, LOGIN),
    ("bulkedit.edit", "GET", PRIV):                       (LOGIN, 404, 200, 200, LOGIN),
    ("bulkedit.edit", "POST", PUB):                       (LOGIN, 403, 302, 302, LOGIN),
    ("bulkedit.edit", "POST", PRIV):                      (LOGIN, 404, 302, 302, LOGIN),
    ("accounts.email_preference", "POST", None):          (LOGIN, 302, 302, 302, LOGIN),
    # images (pages, files, thumbnails, the viewer's data, status JSON)
    ("images.index", "GET", None):                        (200, 200, 200, 200, 200),
    ("images.detail", "GET", PUB):                        (200, 200, 200, 200, 200),
    ("images.detail", "GET", PRIV):                       (404, 404, 200, 200, 200),
    ("images.status", "GET", PUB):                        (200, 200, 200, 200, 200),
    ("images.status", "GET", PRIV):                       (404, 404, 200, 200, 200),
    ("images.download", "GET", PUB):                      (200, 200, 200, 200, 200),
    ("images.download", "GET", PRIV):                     (404, 404, 200, 200, 200),
    ("images.thumbnail", "GET", PUB):                     (200, 200, 200, 200, 200),
    ("images.thumbnail", "GET", PRIV):                    (404, 404, 200, 200, 200),
    ("images.slices_png", "GET", PUB):                    (200, 200, 200, 200, 200),
    ("images.slices_png", "GET", PRIV):                   (404, 404, 200, 200, 200),
    ("images.compare", "GET", PUB):                       (200, 200, 200, 200, 200),
    ("images.compare", "GET", PRIV):                      (404, 404, 200, 200, 200),
    ("images.compare_picture", "GET", PUB):               (200, 200, 200, 200, 200),
    ("images.compare_picture", "GET", PRIV):              (404, 404, 200, 200, 200),
    ("images.compare_picker", "GET", PUB):                (302, 302, 302, 302, 302),
    ("images.compare_picker", "GET", PRIV):               (404, 404, 302, 302, 302),
    ("images.similar", "GET", PUB):                       (200, 200, 200, 200, 200),
    ("images.similar", "GET", PRIV):                      (404, 404, 200, 200, 200),
    ("images.viewer_file", "GET", PUB):                   (200, 200, 200, 200, 200),
    ("images.viewer_file", "GET", PRIV):                  (404, 404, 200, 200, 200),
    # the world's maps are 3D: no volume is served alone to anyone (tests/app/test_viewer_files.py has series)
    ("images.volume", "GET", PUB):                        (404, 404, 404, 404, 404),
    ("images.volume", "GET", PRIV):                       (404, 404, 404, 404, 404),
    ("images.volume_by_offset", "GET", PUB):              (404, 404, 404, 404, 404),
    ("images.volume_by_offset", "GET", PRIV):             (404, 404, 404, 404, 404),
    # search by file (signed-in users; a search is its user's alone)
    ("similar.search", "GET", None):                      (LOGIN, 200, 200, 200, LOGIN),
    ("similar.search", "POST", None):                     (LOGIN, 302, 302, 302, LOGIN),
    ("similar.answer", "GET", "owner's search"):          (LOGIN, 404, 200, 404, LOGIN),
    ("images.edit", "GET", PUB):                          (LOGIN, 403, 200, 200, LOGIN),
    ("images.edit", "GET", PRIV):                         (LOGIN, 404, 200, 200, LOGIN),
    ("images.edit", "POST", PUB):                         (LOGIN, 403, 302, 302, LOGIN),
    ("images.edit", "POST", PRIV):                        (LOGIN, 404, 302, 302, LOGIN),
    ("images.reprocess", "POST", PUB):                    (LOGIN, 403, 302, 302, LOGIN),
    ("images.reprocess", "POST", PRIV):                   (LOGIN, 404, 302, 302, LOGIN),
    ("images.delete", "POST", PUB):                       (LOGIN, 403, 302, 302, LOGIN),
    ("images.delete", "POST", PRIV):                      (LOGIN, 404, 302, 302, LOGIN),
    # the API (NeuroVault's shape)
    ("api.index", "GET", None):                           (200, 200, 200, 200, 200),
    ("api.docs", "GET", None):                            (200, 200, 200, 200, 200),
    ("api.openapi", "GET", None):                         (200, 200, 200, 200, 200),
    ("api.user", "GET", None):                            (401, 200, 200, 200, 401),
    ("api.my_collections", "GET", None):                  (401, 200, 200, 200, 401),
    ("api.collections", "GET", None):                     (200, 200, 200, 200, 200),
    ("api.collections", "POST", None):                    (401, 201, 201, 201, 401),
    ("api.images", "GET", None):                          (200, 200, 200, 200, 200),
    ("api.collection_detail", "GET", PUB):                (200, 200, 200, 200, 200),
    ("api.collection_detail", "GET", PRIV):               (404, 404, 200, 200, 200),
    ("api.collection_detail", "PUT", PUB):                (401, 403, 200, 200, 401),
    ("api.collection_detail", "PUT", PRIV):               (401, 404, 200, 200, 401),
    ("api.collection_detail", "PATCH", PUB):              (401, 403, 200, 200, 401),
    ("api.collection_detail", "PATCH", PRIV):             (401, 404, 200, 200, 401),
    ("api.collection_detail", "DELETE", PUB):             (401, 403, 204, 204, 401),
    ("api.collection_detail", "DELETE", PRIV):            (401, 404, 204, 204, 401),
    ("api.collection_images", "GET", PUB):                (200, 200, 200, 200, 200),
    ("api.collection_images", "GET", PRIV):               (404, 404, 200, 200, 200),
    ("api.collection_images", "POST", PUB):               (401, 403, 201, 201, 401),
    ("api.collection_images", "POST", PRIV):              (401, 404, 201, 201, 401),
    ("api.collection_download", "GET", PUB):              (200, 200, 200, 200, 200),
    ("api.collection_download", "GET", PRIV):             (404, 404, 200, 200, 200),
    ("api.image_detail", "GET", PUB):                     (200, 200, 200, 200, 200),
    ("api.image_detail", "GET", PRIV):                    (404, 404, 200, 200, 200),
    ("api.image_detail", "PATCH", PUB):                   (401, 403, 200, 200, 401),
    ("api.image_detail", "PATCH", PRIV):                  (401, 404, 200, 200, 401),
    ("api.image_detail", "DELETE", PUB):                  (401, 403, 204, 204, 401),
    ("api.image_detail", "DELETE", PRIV):                 (401, 404, 204, 204, 401),
    ("api.image_file", "GET", PUB):                       (200, 200, 200, 200, 200),
    ("api.image_file", "GET", PRIV):                      (404, 404, 200, 200, 200),
    ("api.image_named_file", "GET", PUB):                 (200, 200, 200, 200, 200),
    ("api.image_named_file", "GET", PRIV):                (404, 404, 200, 200, 200),
    ("api.image_thumbnail", "GET", PUB):                  (200, 200, 200, 200, 200),
    ("api.image_thumbnail", "GET", PRIV):                 (404, 404, 200, 200, 200),
    ("api.image_similar", "GET", PUB):                    (200, 200, 200, 200, 200),
    ("api.image_similar", "GET", PRIV):                   (404, 404, 200, 200, 200),
    ("api.similar_search", "POST", None):                 (401, 200, 200, 200, 401),
    ("api.similar_search_detail", "GET", "owner's search"): (401, 404, 200, 404, 401),
    # tus resumable uploads (an upload belongs to the user who started it, admin included)
    ("tus.create", "POST", PUB):                          (401, 403, 201, 201, 401),
    ("tus.create", "POST", PRIV):                         (401, 404, 201, 201, 401),
    ("tus.upload", "HEAD", "owner's upload"):             (401, 404, 200, 404, 401),
    ("tus.upload", "PATCH", "owner's upload"):            (401, 404, 204, 404, 401),
    ("tus.upload", "DELETE", "owner's upload"):           (401, 404, 204, 404, 401),
    # reporting a map or a collection (signed-in visitors, what they can see)
    ("reports.report_image", "GET", PUB):                 (LOGIN, 200, 200, 200, LOGIN),
    ("reports.report_image", "GET", PRIV):                (LOGIN, 404, 200, 200, LOGIN),
    ("reports.report_image", "POST", PUB):                (LOGIN, 302, 302, 302, LOGIN),
    ("reports.report_image", "POST", PRIV):               (LOGIN, 404, 302, 302, LOGIN),
    ("reports.report_collection", "GET", PUB):            (LOGIN, 200, 200, 200, LOGIN),
    ("reports.report_collection", "GET", PRIV):           (LOGIN, 404, 200, 200, LOGIN),
    ("reports.report_collection", "POST", PUB):           (LOGIN, 302, 302, 302, LOGIN),
    ("reports.report_collection", "POST", PRIV):          (LOGIN, 404, 302, 302, LOGIN),
    # the admin area: a 404 to everyone but administrators, as if it did not exist
    ("admin.index", "GET", None):                         (404, 404, 404, 200, 404),
    ("admin.users", "GET", None):                         (404, 404, 404, 200, 404),
    ("admin.user", "GET", None):                          (404, 404, 404, 200, 404),
    ("admin.user_limits", "POST", None):                  (404, 404, 404, 302, 404),
    ("admin.user_active", "POST", None):                  (404, 404, 404, 302, 404),
    ("admin.user_admin", "POST", None):                   (404, 404, 404, 302, 404),
    ("admin.images", "GET", None):                        (404, 404, 404, 200, 404),
    ("admin.reprocess", "POST", None):                    (404, 404, 404, 302, 404),
    ("admin.image_unpublish", "POST", None):              (404, 404, 404, 302, 404),
    ("admin.image_republish", "POST", None):              (404, 404, 404, 302, 404),
    ("admin.image_delete", "POST", None):                 (404, 404, 404, 302, 404),
    ("admin.collections", "GET", None):                   (404, 404, 404, 200, 404),
    ("admin.collection_unpublish", "POST", None):         (404, 404, 404, 302, 404),
    ("admin.collection_republish", "POST", None):         (404, 404, 404, 302, 404),
    ("admin.collection_delete", "POST", None):            (404, 404, 404, 302, 404),
    ("admin.uploads", "GET", None):                       (404, 404, 404, 200, 404),
    ("admin.reports", "GET", None):                       (404, 404, 404, 200, 404),
    ("admin.report_resolve", "POST", None):               (404, 404, 404, 302, 404),
    # metrics: by address (the test client is 127.0.0.1), not by user
    ("metrics", "GET", None):                             (200, 200, 200, 200, 200),
    # last: it ends the sessions
    ("security.logout", "POST", None):                    (302, 302, 302, 302, 302),
}

#: Methods every route answers by itself, not part of the matrix.
IMPLICIT_METHODS = {"OPTIONS"}
TINY_UPLOAD = b"not a NIfTI file, but bytes all the same"
SAFE = ("GET", "HEAD")


# ------------------------------------------------------------------------------------------------
# requests: how each row is asked, by each actor


class Asker:
    """Builds each row's request for an actor; makes fresh objects for writes so rows stay independent."""

    def __init__(self, world):
        self.world = world
        self.app = world.app
        self.csrf = {}

    def token_of(self, actor):
        if actor not in self.csrf:
            page = "/accounts/login" if actor in ("anonymous", "share") else "/accounts/tokens"
            self.csrf[actor] = csrf_token(self.world.clients[actor], page)
        return self.csrf[actor]

    # objects ------------------------------------------------------------------------------------

    def fresh_collection(self, privacy, actor):
        """A new collection of the owner's with one stored image; the share actor opens its link."""
        with self.app.app_context():
            collection = Collection(owner_id=self.world.ids["owner"], name=f"Throwaway {privacy}",
                                    private=privacy == PRIV)
            db.session.add(collection)
            db.session.flush()
            image_id = self.stored_image(collection)
            collection.refresh_image_count()
            db.session.commit()
            ids = collection.id, image_id, collection.share_token
        if actor == "share" and privacy == PRIV:
            self.world.clients["share"].get(f"/collections/share/{ids[2]}")
        return ids

    def stored_image(self, collection):
        storage = get_storage()
        stored = storage.put_bytes(new_key("originals"), b"\x1f\x8b stored bytes")
        image = Image(collection=collection, uploader_id=collection.owner_id, name="throwaway",
                      original_filename="throwaway.nii.gz", storage_key=stored.key, file_size=stored.size,
                      sha256=stored.sha256, status=Image.READY)
        db.session.add(image)
        db.session.flush()
        key = artifact_key(image.id, "glass_brain")
        png = storage.put_bytes(key, b"\x89PNG\r\n\x1a\n")
        db.session.add(Artifact(image_id=image.id, kind="glass_brain", storage_key=key, size=png.size))
        return image.id

    def objects(self, privacy, method, actor):
        """(collection id, image id, share token) for the row: the world's for reads, fresh ones for writes."""
        if method in SAFE:
            return (self.world.ids[f"{privacy}_collection"], self.world.ids[f"{privacy}_image"],
                    self.world.ids["share_token"])
        return self.fresh_collection(privacy, actor)

    def owners_token_id(self):
        with self.app.app_context():
            token, _ = ApiToken.issue(db.session.get(User, self.world.ids["owner"]), "to revoke")
            db.session.commit()
            return token.id

    def owners_upload(self):
        headers = self.tus_headers("owner", {"Upload-Length": "10", "Upload-Metadata": tus_metadata(
            "part.nii", self.world.ids["public_collection"])})
        answer = self.world.clients["anonymous"].post("/api/uploads/", headers=headers)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return answer.headers["Location"]

    # request shapes -----------------------------------------------------------------------------

    def api_headers(self, actor):
        return {"Authorization": f"Token {self.world.tokens[actor]}"} if actor in self.world.tokens else {}

    def tus_headers(self, actor, extra):
        return {"Tus-Resumable": "1.0.0", **self.api_headers(actor), **extra}

    def page(self, actor, method, path, data=None, **kwargs):
        """A page request by the actor's browser: the session cookie, and the form's CSRF token on writes."""
        if method not in SAFE:
            data = {**(data or {}), "csrf_token": self.token_of(actor)}
        return self.world.clients[actor].open(path, method=method, data=data, **kwargs)

    def api(self, actor, method, path, **kwargs):
        """An API call: a token for the users, nothing for anonymous and share-link holders (no cookie)."""
        client = self.world.clients["anonymous"]
        return client.open(path, method=method, headers=self.api_headers(actor), **kwargs)

    def ask(self, endpoint, method, target, actor):
        if endpoint.startswith("admin."):
            return self.ask_admin(endpoint, method, actor)
        handler = getattr(self, "ask_" + endpoint.replace(".", "_"), None)
        if handler is not None:
            return handler(method, target, actor)
        prefix = endpoint.split(".")[0]
        if prefix in ("api", "tus"):
            raise AssertionError(f"no request shape for {endpoint}")
        return self.page(actor, method, self.simple_paths()[endpoint])

    def simple_paths(self):
        return {
            "main.index": "/", "main.health": "/healthz", "main.mni_template": "/template/mni152.nii.gz",
            "static": "/static/css/site.css", "security.static": "/accounts/fs-static/none.js",
            "security.login": "/accounts/login", "security.register": "/accounts/register",
            "security.forgot_password": "/accounts/reset", "security.reset_password": "/accounts/reset/not-a-token",
            "security.send_confirmation": "/accounts/confirm", "security.confirm_email": "/accounts/confirm/nope",
            "security.change_password": "/accounts/change", "security.verify": "/accounts/verify",
            "security.logout": "/accounts/logout", "accounts.profile": "/accounts/profile",
            "accounts.tokens": "/accounts/tokens", "collections.index": "/collections/",
            "collections.mine": "/collections/mine", "images.index": "/images/", "metrics": "/metrics",
        }

    # the admin area -----------------------------------------------------------------------------

    def ask_admin(self, endpoint, method, actor):
        """Each admin row on objects of its own (a fresh collection for the takedowns), so rows stay independent."""
        collection_id, image_id, _ = self.fresh_collection(PUB, "owner") if method == "POST" else (None, None, None)
        other = self.world.ids["other"]
        with self.app.app_context():
            report = Report(reporter_id=other, image_id=image_id, reason="spam") if image_id else None
            if report is not None:
                db.session.add(report)
                db.session.commit()
            report_id = report.id if report is not None else None
        paths = {
            "admin.index": ("/admin/", None), "admin.users": ("/admin/users", None),
            "admin.user": (f"/admin/users/{other}", None), "admin.images": ("/admin/images?status=failed", None),
            "admin.collections": ("/admin/collections?q=study", None), "admin.uploads": ("/admin/uploads", None),
            "admin.reports": ("/admin/reports", None),
            "admin.user_limits": (f"/admin/users/{other}/limits", {"quota": "", "pending": ""}),
            "admin.user_active": (f"/admin/users/{other}/active", {"action": "reactivate"}),
            "admin.user_admin": (f"/admin/users/{other}/admin", {"action": "revoke"}),
            "admin.reprocess": ("/admin/images/reprocess", {"image_id": str(image_id)}),
            "admin.image_unpublish": (f"/admin/images/{image_id}/unpublish", {"reason": "matrix"}),
            "admin.image_republish": (f"/admin/images/{image_id}/republish", {}),
            "admin.image_delete": (f"/admin/images/{image_id}/delete", {"reason": "matrix"}),
            "admin.collection_unpublish": (f"/admin/collections/{collection_id}/unpublish", {"reason": "matrix"}),
            "admin.collection_republish": (f"/admin/collections/{collection_id}/republish", {}),
            "admin.collection_delete": (f"/admin/collections/{collection_id}/delete", {"reason": "matrix"}),
            "admin.report_resolve": (f"/admin/reports/{report_id}/resolve", {"resolution": "matrix"}),
        }
        path, data = paths[endpoint]
        return self.page(actor, method, path, data=data)

    def report_page(self, kind):
        def ask(method, target, actor):
            collection_id, image_id, _ = self.objects(target, method, actor)
            path = f"/images/{image_id}/report" if kind == "image" else f"/collections/{collection_id}/report"
            form = {"reason": "spam", "text": "matrix"} if method == "POST" else None
            return self.page(actor, method, path, data=form)

        return ask

    def ask_reports_report_image(self, *a):
        return self.report_page("image")(*a)

    def ask_reports_report_collection(self, *a):
        return self.report_page("collection")(*a)

    # pages with objects -------------------------------------------------------------------------

    def ask_accounts_tokens(self, method, target, actor):
        return self.page(actor, method, "/accounts/tokens", data={"name": "matrix"} if method == "POST" else None)

    def ask_accounts_revoke_token(self, method, target, actor):
        return self.page(actor, method, f"/accounts/tokens/{self.owners_token_id()}/revoke")

    def ask_collections_create(self, method, target, actor):
        return self.page(actor, method, "/collections/new", data={"name": "Made by the matrix"})

    def collection_page(self, suffix, data=None):
        def ask(method, target, actor):
            collection_id, _, _ = self.objects(target, method, actor)
            return self.page(actor, method, f"/collections/{collection_id}{suffix}", data=data)

        return ask

    def __getattr__(self, name):
        pages = {
            "ask_collections_detail": ("", None),
            "ask_collections_edit": ("/edit", {"name": "Renamed by the matrix"}),
            "ask_collections_delete": ("/delete", {}),
            "ask_collections_new_share_link": ("/share-link", {}),
            "ask_collections_toggle_privacy": ("/privacy", {}),
        }
        if name in pages:
            return self.collection_page(*pages[name])
        images = {
            "ask_images_detail": "", "ask_images_status": "/status", "ask_images_download": "/file",
            "ask_images_thumbnail": "/thumbnails/glass_brain.png", "ask_images_reprocess": "/reprocess",
            "ask_images_delete": "/delete", "ask_images_slices_png": "/slices.png?axis=z",
            "ask_images_similar": "/similar", "ask_images_compare_picker": "/compare",
        }
        if name in images:
            return self.image_page(images[name])
        raise AttributeError(name)

    def image_page(self, suffix):
        def ask(method, target, actor):
            _, image_id, _ = self.objects(target, method, actor)
            return self.page(actor, method, f"/images/{image_id}{suffix}")

        return ask

    def ask_images_compare(self, method, target, actor):
        """A map compared with itself: both sides are the target's, so the answer is about that map alone."""
        _, image_id, _ = self.objects(target, method, actor)
        return self.page(actor, method, f"/images/{image_id}/compare/{image_id}")

    def ask_images_compare_picture(self, method, target, actor):
        _, image_id, _ = self.objects(target, method, actor)
        return self.page(actor, method, f"/images/{image_id}/compare/{image_id}/scatter.png")

    def ask_images_viewer_file(self, method, target, actor):
        """The viewer's copy of the map (a stored artifact, as the worker writes for large maps)."""
        _, image_id, _ = self.objects(target, method, actor)
        with self.app.app_context():
            if db.session.get(Image, image_id).artifact("viewer") is None:
                stored = get_storage().put_bytes(artifact_key(image_id, "viewer", "nii.gz"), b"\x1f\x8b viewer")
                db.session.add(Artifact(image_id=image_id, kind="viewer", storage_key=stored.key,
                                        content_type="application/gzip", size=stored.size))
                db.session.commit()
        return self.page(actor, method, f"/images/{image_id}/files/viewer.nii.gz")

    def ask_images_volume(self, method, target, actor):
        _, image_id, _ = self.objects(target, method, actor)
        return self.page(actor, method, f"/images/{image_id}/volumes/0.nii.gz")

    def ask_images_volume_by_offset(self, method, target, actor):
        _, image_id, _ = self.objects(target, method, actor)
        return self.page(actor, method, f"/images/{image_id}/volumes/0.nii")

    def owners_search_id(self):
        """A finished search by file of the owner's (the row alone: its file is gone once answered)."""
        with self.app.app_context():
            search = SimilaritySearch(user_id=self.world.ids["owner"], filename="mine.nii.gz",
                                      status=SimilaritySearch.READY, results=[])
            db.session.add(search)
            db.session.commit()
            return search.id

    def ask_similar_search(self, method, target, actor):
        data = {"file": (io.BytesIO(TINY_UPLOAD), "tiny.nii")} if method == "POST" else None
        return self.page(actor, method, "/similar/", data=data,
                         content_type="multipart/form-data" if method == "POST" else None)

    def ask_similar_answer(self, method, target, actor):
        return self.page(actor, method, f"/similar/{self.owners_search_id()}")

    def ask_api_similar_search(self, method, target, actor):
        return self.api(actor, method, "/api/similar/", content_type="multipart/form-data",
                        data={"file": (io.BytesIO(TINY_UPLOAD), "tiny.nii")})

    def ask_api_similar_search_detail(self, method, target, actor):
        return self.api(actor, method, f"/api/similar/{self.owners_search_id()}/")

    def ask_api_image_similar(self, *a):
        return self.api_image("similar/")(*a)

    def ask_collections_shared(self, method, target, actor):
        """Opening a share link grants the session read access: a fresh collection's, so the world's stays unseen."""
        token = self.fresh_collection(PRIV, "owner")[2] if target == PRIV else "not-a-share-token"
        return self.page(actor, method, f"/collections/share/{token}")

    def ask_uploads_upload(self, method, target, actor):
        collection_id, _, _ = self.objects(target, method, actor)
        path = f"/collections/{collection_id}/upload"
        if method == "GET":
            return self.page(actor, method, path)
        return self.page(actor, method, path, data={"file": (io.BytesIO(TINY_UPLOAD), "tiny.nii")},
                         content_type="multipart/form-data", headers={"Accept": "application/json"})

    def ask_uploads_batch(self, method, target, actor):
        with self.app.app_context():
            batch = Batch(user_id=self.world.ids["owner"], collection_id=self.world.ids["public_collection"],
                          kind="archive", filename="study.zip", sources=[], outcomes=[], source_bytes=0)
            db.session.add(batch)
            db.session.commit()
            batch_id = batch.id
        return self.page(actor, method, f"/collections/batches/{batch_id}")

    def ask_uploads_original_half(self, method, target, actor):
        """The .hdr of the pair a map was converted from (a fresh map of the target's privacy)."""
        _, image_id, _ = self.fresh_collection(target, actor)
        with self.app.app_context():
            image = db.session.get(Image, image_id)
            stored = get_storage().put_bytes(new_key("originals"), b"hdr bytes")
            image.extra = {"original_pair": [{"filename": "con_0001.hdr", "key": stored.key, "size": stored.size}]}
            db.session.commit()
        return self.page(actor, method, f"/collections/images/{image_id}/original/0")

    def ask_images_edit(self, method, target, actor):
        _, image_id, _ = self.objects(target, method, actor)
        data = {"name": "Renamed by the matrix"} if method == "POST" else None
        return self.page(actor, method, f"/images/{image_id}/edit", data=data)

    def ask_bulkedit_edit(self, method, target, actor):
        collection_id, image_id, _ = self.objects(target, method, actor)
        data = {"image": str(image_id), "map_type": "T"} if method == "POST" else None
        return self.page(actor, method, f"/collections/{collection_id}/bulk-edit", data=data)

    def ask_accounts_email_preference(self, method, target, actor):
        return self.page(actor, method, "/accounts/email-preference", data={"emails": "batch"})

    # the API ------------------------------------------------------------------------------------

    def ref(self, collection_id, share_token, target, actor):
        """How the actor names the collection: the share-link holder by its token, everyone else by id."""
        return share_token if actor == "share" and target == PRIV else str(collection_id)

    def image_query(self, share_token, target, actor):
        return f"?share_token={share_token}" if actor == "share" and target == PRIV else ""

    def simple_api(self, path):
        def ask(method, target, actor):
            body = {"json": {"name": "Made by the matrix"}} if method == "POST" else {}
            return self.api(actor, method, path, **body)

        return ask

    def ask_api_index(self, *a):
        return self.simple_api("/api/")(*a)

    def ask_api_docs(self, *a):
        return self.simple_api("/api/docs")(*a)

    def ask_api_openapi(self, *a):
        return self.simple_api("/api/openapi.json")(*a)

    def ask_api_user(self, *a):
        return self.simple_api("/api/user")(*a)

    def ask_api_my_collections(self, *a):
        return self.simple_api("/api/my_collections/")(*a)

    def ask_api_collections(self, *a):
        return self.simple_api("/api/collections/")(*a)

    def ask_api_images(self, *a):
        return self.simple_api("/api/images/")(*a)

    def ask_api_collection_detail(self, method, target, actor):
        collection_id, _, share = self.objects(target, method, actor)
        body = {"json": {"name": "Changed by the matrix"}} if method in ("PUT", "PATCH") else {}
        return self.api(actor, method, f"/api/collections/{self.ref(collection_id, share, target, actor)}/", **body)

    def ask_api_collection_images(self, method, target, actor):
        collection_id, _, share = self.objects(target, method, actor)
        path = f"/api/collections/{self.ref(collection_id, share, target, actor)}/images/"
        if method == "GET":
            return self.api(actor, method, path)
        return self.api(actor, method, path, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(TINY_UPLOAD), "tiny.nii"), "name": "tiny"})

    def ask_api_collection_download(self, method, target, actor):
        collection_id, _, share = self.objects(target, method, actor)
        return self.api(actor, method, f"/api/collections/{self.ref(collection_id, share, target, actor)}/download")

    def api_image(self, suffix):
        def ask(method, target, actor):
            _, image_id, share = self.objects(target, method, actor)
            body = {"json": {"name": "Changed by the matrix"}} if method == "PATCH" else {}
            query = self.image_query(share, target, actor)
            return self.api(actor, method, f"/api/images/{image_id}/{suffix}{query}", **body)

        return ask

    def ask_api_image_detail(self, *a):
        return self.api_image("")(*a)

    def ask_api_image_file(self, *a):
        return self.api_image("file")(*a)

    def ask_api_image_named_file(self, method, target, actor):
        """The ``file`` URL as the JSON gives it: the share-link holder's carries the token in its path."""
        _, image_id, share = self.objects(target, method, actor)
        with self.app.app_context():
            name = url_file_name(db.session.get(Image, image_id))
        middle = f"{share}/" if actor == "share" and target == PRIV else ""
        return self.api(actor, method, f"/api/images/{image_id}/{middle}{name}")

    def ask_api_image_thumbnail(self, *a):
        return self.api_image("thumbnail.png")(*a)

    # tus ----------------------------------------------------------------------------------------

    def ask_tus_create(self, method, target, actor):
        collection_id, _, _ = self.objects(target, method, actor)
        headers = self.tus_headers(actor, {"Upload-Length": "10",
                                           "Upload-Metadata": tus_metadata("part.nii", collection_id)})
        return self.world.clients["anonymous"].post("/api/uploads/", headers=headers)

    def ask_tus_upload(self, method, target, actor):
        url = self.owners_upload()
        extra = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"} if method == "PATCH" else {}
        data = b"0123" if method == "PATCH" else None
        return self.world.clients["anonymous"].open(url, method=method, headers=self.tus_headers(actor, extra),
                                                    data=data)


def tus_metadata(filename, collection_id):
    def b64(value):
        return base64.b64encode(str(value).encode()).decode()

    return f"filename {b64(filename)},collection_id {b64(collection_id)}"


def outcome(answer):
    """The answer as the table spells it."""
    if answer.status_code == 302 and re.search(r"/accounts/login", answer.headers.get("Location", "")) and \
            "next=" in answer.headers.get("Location", ""):
        return LOGIN
    return answer.status_code


# ------------------------------------------------------------------------------------------------


def test_every_route_has_a_row(app):
    listed = {(endpoint, method) for endpoint, method, _ in MATRIX}
    served = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - IMPLICIT_METHODS
              if not (method == "HEAD" and "GET" in rule.methods)}
    assert served - listed == set(), "routes without a row in MATRIX: add them, with the answer each actor gets"
    assert listed - served == set(), "rows for routes that no longer exist"


@pytest.fixture
def matrix_world(app, accounts, tmp_path):
    return build_world(app, accounts, tmp_path)


def test_the_matrix(matrix_world):
    asker = Asker(matrix_world)
    wrong = []
    for (endpoint, method, target), expected in MATRIX.items():
        for actor, answer_expected in zip(ACTORS, expected, strict=True):
            answer = asker.ask(endpoint, method, target, actor)
            got = outcome(answer)
            answer.close()
            if got != answer_expected:
                wrong.append(f"{endpoint} {method} {target or ''} as {actor}: expected {answer_expected}, got {got}")
    assert wrong == [], "\n".join(wrong)


def test_refused_writes_change_nothing(matrix_world):
    """Every write the matrix refuses leaves the collection, its image and its stored file as they were."""
    asker = Asker(matrix_world)
    app = matrix_world.app
    for (endpoint, method, target), expected in MATRIX.items():
        if method in SAFE or target not in (PUB, PRIV):
            continue
        for actor, answer_expected in zip(ACTORS, expected, strict=True):
            if answer_expected not in (LOGIN, 401, 403, 404):
                continue
            original = asker.objects
            made = []
            asker.objects = lambda *args, original=original, made=made: made.append(original(*args)) or made[-1]
            asker.ask(endpoint, method, target, actor).close()
            asker.objects = original
            collection_id, image_id, share = made[0]
            with app.app_context():
                collection = db.session.get(Collection, collection_id)
                image = db.session.get(Image, image_id)
                assert collection is not None and image is not None, (endpoint, method, actor)
                assert collection.name.startswith("Throwaway") and collection.share_token == share
                assert collection.private == (target == PRIV) and image.name == "throwaway"
                assert image.status == Image.READY and get_storage().exists(image.storage_key)
                assert collection.image_count == 1, (endpoint, method, actor)


UNSAFE_PAGE_ROWS = sorted({(e, m, t) for (e, m, t), exp in MATRIX.items()
                           if m not in SAFE and not e.startswith(("api.", "tus.", "security."))
                           and exp[2] not in (LOGIN, 401, 403, 404)})


def test_every_form_needs_its_csrf_token(matrix_world):
    """The owner's browser, tricked into posting without the token, changes nothing."""
    asker = Asker(matrix_world)
    asker.token_of = lambda actor: "forged"
    for endpoint, method, target in UNSAFE_PAGE_ROWS:
        answer = asker.ask(endpoint, method, target, "owner")
        answer.close()
        assert answer.status_code in (400, 403), (endpoint, method, target, answer.status_code)


def test_cookie_sessions_need_csrf_on_the_api_and_tus(matrix_world):
    """A logged-in browser (cookie, no token) writes through the API and tus only with the CSRF header."""
    client = matrix_world.clients["owner"]
    token = csrf_token(client, "/accounts/tokens")
    collection_id = matrix_world.ids["public_collection"]
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "10",
           "Upload-Metadata": tus_metadata("part.nii", collection_id)}
    assert client.post("/api/collections/", json={"name": "forged"}).status_code == 403
    assert client.patch(f"/api/collections/{collection_id}/", json={"name": "forged"}).status_code == 403
    assert client.post("/api/uploads/", headers=tus).status_code in (400, 403)
    with matrix_world.app.app_context():
        assert Collection.query.filter_by(name="forged").count() == 0
        assert Upload.query.count() == 0
    assert client.get("/api/my_collections/").status_code == 200, "reading needs no token"
    assert client.post("/api/collections/", json={"name": "real"}, headers={"X-CSRFToken": token}).status_code == 201
    assert client.post("/api/uploads/", headers={**tus, "X-CSRFToken": token}).status_code == 201
