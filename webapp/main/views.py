"""The home page, the viewer's template volume and the health check."""

from pathlib import Path

import sqlalchemy as sa
from flask import render_template, send_file
from sqlalchemy.orm import contains_eager, selectinload

from ..extensions import db
from ..models import Collection, Image
from ..pagecache import COLLECTIONS_LIST, IMAGES_LIST, depends_on, shared_with_visitors
from . import bp

MNI_TEMPLATE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def nilearn_data_file(name):
    """A file that nilearn ships (the MNI152 template), found without importing nilearn's heavy modules."""
    import importlib.util

    spec = importlib.util.find_spec("nilearn")
    return Path(spec.origin).parent / "datasets" / "data" / name


def site_counts():
    """How many public collections and ready public images there are, for the home page."""
    collections = db.session.scalar(sa.select(sa.func.count()).select_from(Collection.public_query().subquery()))
    images = db.session.scalar(
        sa.select(sa.func.count()).select_from(Image.public_query().where(Image.status == Image.READY).subquery())
    )
    return {"collections": collections, "images": images}


@bp.route("/")
@shared_with_visitors
def index():
    """Counts and the newest public collections and maps; owners and collections are loaded with them."""
    depends_on(IMAGES_LIST, COLLECTIONS_LIST)
    recent_collections = db.session.scalars(
        Collection.public_query()
        .where(Collection.image_count > 0)
        .options(selectinload(Collection.owner))
        .order_by(Collection.id.desc())
        .limit(6)
    ).all()
    recent_images = db.session.scalars(
        Image.public_query()
        .where(Image.status == Image.READY)
        .options(contains_eager(Image.collection))
        .order_by(Image.id.desc())
        .limit(8)
    ).all()
    return render_template(
        "main/index.html", collections=recent_collections, images=recent_images, counts=site_counts()
    )


@bp.route("/template/mni152.nii.gz")
def mni_template():
    """The MNI152 T1 template that the viewer draws maps over (shipped by nilearn: works offline)."""
    response = send_file(
        nilearn_data_file(MNI_TEMPLATE), mimetype="application/gzip", max_age=86400, conditional=True
    )
    response.headers.pop("Content-Encoding", None)
    return response


@bp.route("/healthz")
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
