"""Taking maps and collections down (unpublish, delete) with a reason the owner is emailed.

Shared by the admin area and ``flask images unpublish``, so a takedown behaves the same whichever
way an operator makes it. The email is queued after the change is committed (``send_notice``).
"""

from flask import current_app, render_template

from .extensions import db
from .files import delete_collection, delete_image
from .urls import absolute_url

MAX_REASON = 2000


def clean_reason(reason):
    """The reason as it is stored and emailed; ValueError when there is none (owners are always told why)."""
    text = (reason or "").strip()[:MAX_REASON]
    if not text:
        raise ValueError("reason: give the reason the owner will be emailed")
    return text


def unpublish_image(image, reason):
    """Hide a map from everyone but its collection's editors and the administrators."""
    image.unpublished_reason = clean_reason(reason)
    db.session.commit()
    tell_owner(image.collection.owner, f"Your map “{image.name}” was unpublished", "unpublished", image.name,
               image.unpublished_reason, absolute_url("images.detail", image_id=image.id))


def unpublish_collection(collection, reason):
    collection.unpublished_reason = clean_reason(reason)
    db.session.commit()
    tell_owner(collection.owner, f"Your collection “{collection.name}” was unpublished", "unpublished",
               collection.name, collection.unpublished_reason,
               absolute_url("collections.detail", collection_id=collection.id))


def republish(item):
    """Undo an unpublish (an image or a collection); no email, the owner may have asked for it."""
    item.unpublished_reason = None
    db.session.commit()


def delete_image_for(image, reason):
    """Delete a map and its files; the owner is told what went and why."""
    reason = clean_reason(reason)
    owner, name = image.collection.owner, image.name
    delete_image(image)
    tell_owner(owner, f"Your map “{name}” was deleted", "deleted", name, reason, None)


def delete_collection_for(collection, reason):
    reason = clean_reason(reason)
    owner, name = collection.owner, collection.name
    delete_collection(collection)
    tell_owner(owner, f"Your collection “{name}” was deleted", "deleted", name, reason, None)


def tell_owner(owner, subject, action, name, reason, link):
    """Queue the notice to the owner; a broker that is down is logged, the takedown itself stands."""
    from webapp.processing.emails import send_notice

    if owner is None:
        return
    body = render_template("email/moderation.txt", action=action, name=name, reason=reason, link=link)
    try:
        send_notice.delay(subject, [owner.email], body)
    except Exception:
        current_app.logger.exception("could not queue the %s notice to user %s", action, owner.id)
