"""Rows the admin end-to-end tests start from, written through the live site's in-process app."""

from webapp.extensions import db, get_storage
from webapp.ingest import add_image
from webapp.models import Collection, Image, User
from webapp.storage import new_key


def failed_image(live_site, owner_email, nifti, error="A temporary problem on our side kept this image from being "
                                                      "processed; use Reprocess to try again."):
    """A public map whose processing failed for a passing reason: its file is fine, a reprocess makes it ready."""
    with live_site.app.app_context():
        owner = db.session.scalar(db.select(User).where(User.email == owner_email))
        collection = Collection(owner=owner, name="Maps an admin rescues")
        db.session.add(collection)
        db.session.flush()
        stored = get_storage().put_bytes(new_key("originals"), nifti)
        image = add_image(collection, owner, stored, "rescued.nii.gz")
        image.set_status(Image.FAILED, error=error)
        db.session.commit()
        return image.id
