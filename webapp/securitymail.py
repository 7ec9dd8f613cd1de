"""Flask-Security's emails go through Celery, and the reset and confirmation forms answer alike for everyone.

``POST /accounts/reset`` took ~250 ms for a known address (a token, two templates, an SMTP
conversation) and ~120 ms for an unknown one, which told anyone which addresses have an
account (issue 21). Now the request never looks the address up: the forms check only its
shape, queue ``send_account_instructions`` with it, and answer as Flask-Security answers
an unknown address. The task finds the account (if any) and sends what Flask-Security
would have sent; every email Flask-Security renders goes out through ``send_account_email``,
so no request waits on an SMTP server either.
"""

from flask import current_app
from flask_security import MailUtil
from flask_security.confirmable import requires_confirmation, send_confirmation_instructions
from flask_security.forms import (
    EmailValidation,
    ForgotPasswordForm,
    Form,
    IsString,
    SendConfirmationForm,
    UserEmailFormMixin,
    email_required,
)
from flask_security.proxies import _datastore
from flask_security.recoverable import send_reset_password_instructions
from wtforms import EmailField

RESET, CONFIRM = "reset", "confirm"


class QueuedMailUtil(MailUtil):
    """Hands every rendered Flask-Security email to a Celery task instead of an SMTP server."""

    def send_mail(self, template, subject, recipient, sender, body, html, **kwargs):
        from webapp.processing.emails import send_account_email

        if isinstance(sender, tuple):
            sender = f"{sender[0]} <{sender[1]}>"
        try:
            send_account_email.delay(str(subject), recipient, str(sender), body, html)
        except Exception:
            current_app.logger.exception("could not queue the %s email", template)


def queue_instructions(kind, email):
    """Queue the task that sends reset or confirmation instructions to ``email`` if it has an account."""
    from webapp.processing.emails import send_account_instructions

    try:
        send_account_instructions.delay(kind, email)
    except Exception:
        current_app.logger.exception("could not queue the %s instructions", kind)


def address_field():
    """Flask-Security's email field without its account lookup: the shape of the address only."""
    template = UserEmailFormMixin.email
    return EmailField(
        *template.args,
        render_kw={"autocomplete": "email"},
        validators=[IsString(), email_required, EmailValidation(verify=True)],
    )


class QueuedForgotPasswordForm(ForgotPasswordForm):
    """A well-formed address queues the work and the view answers as for an unknown one: always the same."""

    email = address_field()

    def validate(self, **kwargs):
        if Form.validate(self, **kwargs):
            queue_instructions(RESET, self.email.data)
        return False


class QueuedSendConfirmationForm(SendConfirmationForm):
    email = address_field()

    def validate(self, **kwargs):
        if Form.validate(self, **kwargs):
            queue_instructions(CONFIRM, self.email.data)
        return False


def instructions_wanted(kind, user):
    """Whether Flask-Security's own forms would have sent this user these instructions."""
    if user is None:
        return False
    if kind == RESET:
        return user.is_active and not user.is_locked([]) and not requires_confirmation(user)
    return kind == CONFIRM and user.confirmed_at is None


def send_instructions(kind, email):
    """In the worker: find the account and send its instructions; True when there was something to send.

    Links are built in a request on ``BASE_URL``, as a request to the site itself would build them.
    """
    user = _datastore.find_user(case_insensitive=True, email=email)
    if not instructions_wanted(kind, user):
        return False
    with current_app.test_request_context("/", base_url=current_app.config["BASE_URL"]):
        if kind == RESET:
            send_reset_password_instructions(user)
        else:
            send_confirmation_instructions(user)
    return True
