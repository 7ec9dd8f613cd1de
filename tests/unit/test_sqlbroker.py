"""The embedded SQL broker polls every POLLING_INTERVAL and still builds its engine (bench figure 2's fix)."""

from kombu import Connection

from webapp import sqlbroker
from webapp.config import Config


def test_sql_broker_gets_a_short_polling_interval(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("CELERY_BROKER_URL", f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}")
    options = Config().CELERY["broker_transport_options"]
    assert options == {"polling_interval": sqlbroker.POLLING_INTERVAL}


def test_messages_go_through_with_the_option_set(tmp_path):
    sqlbroker.use()
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    with Connection(url, transport_options={"polling_interval": sqlbroker.POLLING_INTERVAL}) as connection:
        assert isinstance(connection.transport, sqlbroker.Transport)
        assert connection.transport.polling_interval == sqlbroker.POLLING_INTERVAL
        queue = connection.SimpleQueue("bench-test")
        queue.put({"id": 1})
        message = queue.get(timeout=5)
        assert message.payload == {"id": 1}
        message.ack()
        queue.close()


def test_redis_keeps_its_visibility_timeout(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert "visibility_timeout" in Config().CELERY["broker_transport_options"]
