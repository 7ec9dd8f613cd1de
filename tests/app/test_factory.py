"""The app factory and the settings it reads."""

from pathlib import Path

import pytest

from webapp import create_app
from webapp.config import Config, TestConfig


def test_defaults_live_in_the_instance_folder(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "STORAGE_DIR", "MAIL_SERVER", "SECRET_KEY", "BASE_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "inst"))
    app = create_app()
    folder = tmp_path / "inst"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{folder / 'neurodrop.sqlite'}"
    assert app.config["CELERY_BROKER_URL"] == f"sqla+sqlite:///{folder / 'broker.sqlite'}"
    assert Path(app.config["STORAGE_DIR"]) == folder / "storage"
    assert Path(app.config["MAIL_OUTBOX_DIR"]) == folder / "outbox"
    assert (folder / "outbox").is_dir() and (folder / "storage").is_dir()
    assert app.config["BASE_URL"] == "http://localhost:5000"
    assert app.extensions["celery"].conf.broker_url == app.config["CELERY_BROKER_URL"]


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    first = Config().SECRET_KEY
    assert len(first) >= 32
    assert Config().SECRET_KEY == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_overrides_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("PORT", "5055")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    app = create_app(TestConfig)
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("other.db")
    assert app.config["CELERY"]["broker_url"] == "redis://127.0.0.1:6379/9"
    assert app.config["MAIL_OUTBOX_DIR"] is None and app.config["MAIL_SUPPRESS_SEND"] is False
    assert app.config["MAX_UPLOAD_BYTES"] == 1234
    assert app.config["BASE_URL"] == "http://localhost:5055"
    assert app.config["SECRET_KEY"] == "from-env"


def test_malformed_number_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "lots")
    with pytest.raises(ValueError, match="MAX_UPLOAD_BYTES"):
        Config()


@pytest.mark.parametrize("url, backend", [
    ("", "FileSystemCache"), ("redis://127.0.0.1:6379/2", "RedisCache"),
    ("memory://", "SimpleCache"), ("off", "NullCache"),
])
def test_page_cache_backend_follows_its_url(tmp_path, monkeypatch, url, backend):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("PAGE_CACHE_URL", url)
    app = create_app()
    [store] = app.extensions["cache"].values()
    assert type(store).__name__ == backend
    if backend == "RedisCache":
        options = store._write_client.connection_pool.connection_kwargs
        assert options["db"] == 2 and options["socket_timeout"] == 1 and options["socket_connect_timeout"] == 1
    if backend == "FileSystemCache":
        assert Path(app.config["CACHE_DIR"]) == tmp_path / "page-cache"


def test_unknown_page_cache_url_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("PAGE_CACHE_URL", "memcached://somewhere")
    with pytest.raises(ValueError, match="PAGE_CACHE_URL"):
        Config()


def test_production_refuses_laptop_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("NEURODROP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_health_and_error_pages(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert b"Not found" in missing.data and b"neurodrop" in missing.data
    api_missing = client.get("/api/no/such/thing")
    assert api_missing.status_code == 404 and "detail" in api_missing.get_json()


def test_unexpected_error_is_a_500_page_in_the_layout(app, client):
    @app.route("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = client.get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data and b"kaboom" not in response.data


def test_home_page_renders(client):
    page = client.get("/")
    assert page.status_code == 200
    assert b"Share and explore brain maps" in page.data


def test_mni_template_is_served_as_stored_bytes(client):
    response = client.get("/template/mni152.nii.gz")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in response.headers
    assert response.data[:2] == b"\x1f\x8b"


def test_a_task_queued_inside_an_app_goes_through_that_apps_celery(app, monkeypatch, tmp_path):
    """One Celery per Flask app (decision 0020): building a second app does not redirect the first one's tasks."""
    from webapp import create_app
    from webapp.config import TestConfig
    from webapp.processing.tasks import process_image

    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "second"))
    second = create_app(TestConfig())
    assert second.extensions["celery"] is not app.extensions["celery"]
    with app.app_context():
        assert process_image.app is app.extensions["celery"]
    with second.app_context():
        assert process_image.app is second.extensions["celery"]
