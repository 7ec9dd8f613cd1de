"""A tus 1.0 client over the Flask test client, and the researchers it uploads for."""

import base64
from dataclasses import dataclass

from webapp.extensions import db
from webapp.models import ApiToken, Collection, User

OWNER = "tus-owner@example.org"
OTHER = "tus-other@example.org"


def metadata_header(**values):
    return ",".join(f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in values.items())


@dataclass
class Researcher:
    user_id: int
    collection_id: int
    token: str


def make_researcher(app, accounts, email, collection_name="Scans"):
    user_id = accounts.create(email)
    with app.app_context():
        user = db.session.get(User, user_id)
        collection = Collection(owner_id=user_id, name=collection_name)
        db.session.add(collection)
        _, secret = ApiToken.issue(user, "tus tests")
        db.session.commit()
        return Researcher(user_id, collection.id, secret)


class TusTestClient:
    """The tus requests a client makes, through Flask's test client, with an API token by default."""

    def __init__(self, client, token):
        self.client = client
        self.token = token

    def headers(self, extra=None, token=True):
        headers = {"Tus-Resumable": "1.0.0"}
        if token and self.token:
            headers["Authorization"] = f"Token {self.token}"
        headers.update(extra or {})
        return {key: value for key, value in headers.items() if value is not None}

    def create(self, length, collection_id, filename="scan.nii.gz", extra=None, body=None, **metadata):
        header = metadata_header(filename=filename, collection_id=collection_id, **metadata)
        headers = self.headers({"Upload-Length": str(length), "Upload-Metadata": header, **(extra or {})})
        if body is not None:
            headers["Content-Type"] = "application/offset+octet-stream"
        return self.client.post("/api/uploads/", headers=headers, data=body)

    def new(self, length, collection_id, **kwargs):
        answer = self.create(length, collection_id, **kwargs)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return answer.headers["Location"]

    def patch(self, url, offset, data, extra=None):
        headers = self.headers(
            {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **(extra or {})}
        )
        return self.client.patch(url, headers=headers, data=data)

    def head(self, url, extra=None):
        return self.client.head(url, headers=self.headers(extra))

    def delete(self, url, extra=None):
        return self.client.delete(url, headers=self.headers(extra))
