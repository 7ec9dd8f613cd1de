"""The SMTP server is down when processing ends: the image is ``ready`` at once, the email arrives once later."""

import time

import pytest

from tests.live import free_port
from tests.niftigen import small_map

from .sites import emails_for, own_site, researcher, upload, wait_until
from .smtpsink import SmtpSink, mailbox_name

pytestmark = pytest.mark.e2e


def test_email_waits_for_smtp_and_is_sent_once(tmp_path, redis_broker):
    port = free_port()
    sender = f"smtp-down-{port}@neurodrop.test"
    settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port), "MAIL_DEFAULT_SENDER": f"neurodrop <{sender}>"}
    sink = SmtpSink(port, tmp_path / "mail")
    with own_site(tmp_path / "site", broker_url=redis_broker, extra_env=settings) as site:
        site.mail_dir = sink.folder / mailbox_name(sender)
        session, collection_id = researcher(site, "smtp-down@example.org")
        entry = upload(site, session, collection_id, "map.nii.gz", small_map(tmp_path / "map.nii.gz").read_bytes())

        image = site.wait_for_final(entry["id"], seconds=60)
        assert image.status == "ready", image.error
        time.sleep(3)
        assert site.image(entry["id"]).notified_status is None
        assert emails_for(site, entry["id"]) == []

        sink.start()
        try:
            [message] = wait_until(lambda: emails_for(site, entry["id"]), 90, "the email never arrived")
            assert "is ready" in message["Subject"] and message["To"] == "smtp-down@example.org"
            wait_until(lambda: site.image(entry["id"]).notified_status == "ready", 30, "the send was not recorded")
            time.sleep(5)
            assert len(emails_for(site, entry["id"])) == 1
            assert site.image(entry["id"]).status == "ready"
        finally:
            sink.stop()
