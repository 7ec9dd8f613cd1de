"""Sending email: one generic sender plus the embedded outbox of ``.eml`` files.

With no ``MAIL_SERVER`` Flask-Mail is told not to connect anywhere, and every
message it dispatches is written to ``MAIL_OUTBOX_DIR`` instead, so a laptop
install shows its confirmation links and notifications without an SMTP server.
"""

import smtplib
import uuid
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from flask_mail import BadHeaderError, Message, email_dispatched

from .extensions import mail
from .metrics import email_sent


def outbox_path(folder):
    """A fresh file name in the outbox that sorts by time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return Path(folder) / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"


def write_to_outbox(app, message, **_):
    """Keep a dispatched message as an ``.eml`` file when the app has an outbox."""
    folder = app.config.get("MAIL_OUTBOX_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = outbox_path(folder)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(message.as_bytes())
    tmp.replace(path)


def init_outbox(app):
    """Connect the outbox writer for this app."""
    email_dispatched.connect(write_to_outbox, sender=app, weak=False)


def send_email(subject, recipients, text_body, html_body=None, headers=None, sender=None):
    """Send one message now (through SMTP or into the outbox); callers retry on failure."""
    message = Message(
        subject=subject,
        recipients=list(recipients),
        body=text_body,
        html=html_body,
        sender=sender or current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers=headers or {},
    )
    try:
        mail.send(message)
    except Exception:
        email_sent(False)
        raise
    email_sent(True)


def is_permanent_failure(exc):
    """Whether sending failed for a reason that trying again cannot fix.

    A header Flask-Mail refuses (a CR/LF), an address that is not one, and an SMTP 5xx
    answer about the message or its recipients are permanent; a server that is down,
    slow, answers 4xx or refuses our login (the operator fixes that) is worth retrying.
    """
    if isinstance(exc, BadHeaderError | smtplib.SMTPNotSupportedError | UnicodeEncodeError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False
