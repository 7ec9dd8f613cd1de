"""Fixtures for the storage backends: one real S3-compatible server (moto) per test session."""

import shutil
import uuid

import pytest

from .s3server import MotoServer


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    """Each backend in turn, empty: a folder, or a fresh bucket on the moto server."""
    from webapp.storage import LocalStorage

    if request.param == "local":
        backend = LocalStorage(tmp_path / "storage")
    else:
        server = request.getfixturevalue("moto_server")
        backend = server.storage(f"nd-{uuid.uuid4().hex[:12]}", tmp_path / "staging")
    yield backend
    wipe(backend)


def wipe(backend):
    """Remove every object the test left: the folder, or the bucket's objects and the staging folder."""
    from webapp.storage import LocalStorage

    if isinstance(backend, LocalStorage):
        shutil.rmtree(backend.root, ignore_errors=True)
        return
    for page in backend.client.get_paginator("list_objects_v2").paginate(Bucket=backend.bucket):
        batch = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if batch:
            backend.client.delete_objects(Bucket=backend.bucket, Delete={"Objects": batch, "Quiet": True})
    shutil.rmtree(backend.staging, ignore_errors=True)
