"""The one email an uploader gets when an image is ready or has failed."""

from flask import render_template

from webapp.email import send_email
from webapp.text import one_line
from webapp.urls import absolute_url

from .batch_email import sent_with_batch


def outcome_subject(image):
    """The subject line; names are stored without control characters, and older rows are cleaned here."""
    name = one_line(image.name)
    if image.status == image.READY:
        return f"Your map “{name}” is ready"
    return f"Your map “{name}” could not be processed"


def send_outcome_email(image):
    """Render and send the outcome email, with an absolute link to the image page (or leave it to its batch's)."""
    if sent_with_batch(image):
        return
    context = {
        "image": image,
        "image_url": absolute_url("images.detail", image_id=image.id),
        "collection_url": absolute_url("collections.detail", collection_id=image.collection_id),
        "stats": image.stats.data if image.stats else {},
    }
    kind = "image_ready" if image.status == image.READY else "image_failed"
    send_email(
        subject=outcome_subject(image),
        recipients=[image.uploader.email],
        text_body=render_template(f"email/{kind}.txt", **context),
        html_body=render_template(f"email/{kind}.html", **context),
        headers={"X-Neurodrop-Image": str(image.id), "X-Neurodrop-Status": image.status},
    )
