"""The ``flask accounts`` and ``flask images`` command groups."""

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from flask_security import hash_password

from .extensions import db, security
from .limits import parse_size
from .models import ApiToken, Image, User, utcnow
from .moderation import unpublish_image
from .pipeline import queue_processing, reset_for_reprocessing

accounts_cli = AppGroup("accounts", help="Create users and API tokens.")
images_cli = AppGroup("images", help="Maintain images.")


def find_user(email):
    """The user with this email (case-insensitive), or a click error that says so."""
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    return user


@accounts_cli.command("create")
@click.argument("email")
@click.option("--password", required=True, help="The new user's password.")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
def create_account(email, password, admin):
    """Create an active, confirmed user."""
    datastore = security.datastore
    if datastore.find_user(email=email):
        raise click.ClickException(f"a user with email {email} exists already")
    user = datastore.create_user(email=email, password=hash_password(password), active=True, confirmed_at=utcnow())
    if admin:
        role = datastore.find_or_create_role("admin", description="Site administrator")
        datastore.add_role_to_user(user, role)
    db.session.commit()
    click.echo(f"created user {user.id} <{user.email}>{' (admin)' if admin else ''}")


@accounts_cli.command("token")
@click.argument("email")
@click.option("--name", default="command line", help="A label to recognise the token by.")
def create_token(email, name):
    """Print a new API token for the user (only this once; it is stored hashed)."""
    user = find_user(email)
    _, secret = ApiToken.issue(user, name)
    db.session.commit()
    click.echo(secret)


@accounts_cli.command("quota")
@click.argument("email")
@click.argument("size")
def set_quota(email, size):
    """Set the user's storage quota (e.g. 50GiB, 500MB; ``default`` for the site's)."""
    user = find_user(email)
    if size.lower() == "default":
        user.quota_bytes = None
    else:
        try:
            user.quota_bytes = parse_size(size)
        except ValueError as problem:
            raise click.BadParameter(str(problem), param_hint="SIZE") from None
    db.session.commit()
    shown = "site default" if user.quota_bytes is None else f"{user.quota_bytes:,} bytes"
    click.echo(f"quota of {user.email}: {shown}")


@accounts_cli.command("pending-limit")
@click.argument("email")
@click.argument("count")
def set_pending_limit(email, count):
    """Set how many of the user's images may wait for a worker at once (``default`` for the site's)."""
    user = find_user(email)
    if count.lower() != "default" and not count.isdigit():
        raise click.BadParameter(f"{count!r}: expected a whole number or default", param_hint="COUNT")
    user.max_pending_images = None if count.lower() == "default" else int(count)
    db.session.commit()
    click.echo(f"pending limit of {user.email}: {user.max_pending_images or 'site default'}")


@accounts_cli.command("deactivate")
@click.argument("email")
def deactivate(email):
    """Deactivate the user: signed out everywhere, their API tokens refused, no new log-in."""
    user = find_user(email)
    security.datastore.deactivate_user(user)
    security.datastore.set_uniquifier(user)
    db.session.commit()
    click.echo(f"deactivated {user.email}")


@accounts_cli.command("reactivate")
@click.argument("email")
def reactivate(email):
    user = find_user(email)
    security.datastore.activate_user(user)
    db.session.commit()
    click.echo(f"reactivated {user.email}")


@images_cli.command("unpublish")
@click.argument("image_id", type=int)
@click.option("--reason", required=True, help="Why; emailed to the owner.")
def unpublish(image_id, reason):
    """Hide a map from everyone but its owner and the administrators, and email the owner why."""
    image = db.session.get(Image, image_id) if 0 < image_id < 2**31 else None
    if image is None:
        raise click.ClickException(f"no image with id {image_id}")
    try:
        unpublish_image(image, reason)
    except ValueError as problem:
        raise click.BadParameter(str(problem), param_hint="--reason") from None
    click.echo(f"unpublished image {image_id}; the owner was emailed")


@images_cli.command("reprocess")
@click.option("--all", "everything", is_flag=True, help="Reprocess every image.")
@click.argument("image_ids", nargs=-1, type=int)
def reprocess(everything, image_ids):
    """Send images through the pipeline again."""
    if not everything and not image_ids:
        raise click.UsageError("give image ids or --all")
    query = sa.select(Image)
    if not everything:
        query = query.where(Image.id.in_(image_ids))
    images = db.session.scalars(query).all()
    missing = set(image_ids) - {image.id for image in images}
    for image in images:
        reset_for_reprocessing(image)
    db.session.commit()
    queue_processing([image.id for image in images])
    click.echo(f"queued {len(images)} image(s)")
    if missing:
        raise click.ClickException(f"no image with id {', '.join(map(str, sorted(missing)))}")


@images_cli.command("rebuild-similarity-index")
def rebuild_similarity_index():
    """Rebuild this host's similarity index from the stored vectors (drops rows of deleted maps).

    Maps processed before similar maps existed have no vector: ``flask images reprocess --all`` makes them.
    """
    from .similarity.search import app_index, feed_after, read_stored

    index = app_index()
    index.wipe()
    added = index.catch_up(feed_after, read_stored)
    click.echo(f"indexed {added} vector(s), {index.n_live} map(s)")
