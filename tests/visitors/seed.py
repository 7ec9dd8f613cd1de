"""Many rows fast, for the list pages: bulk INSERTs of collections and images, no files behind them."""

import itertools

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Collection, Image, User

MAP_TYPES = ("T", "Z", "F", "P", "Other")
MODALITIES = ("fMRI-BOLD", "PET FDG", "Structural MRI")
LEVELS = ("G", "S", None)


def seed_user(email="seeder@example.org"):
    """A user whose display name is the email's local part (real users choose theirs)."""
    row = {"email": email, "fs_uniquifier": email, "active": True, "public_name": email.split("@", 1)[0]}
    db.session.execute(sa.insert(User), [row])
    return db.session.scalar(sa.select(User.id).where(User.email == email))


def seed_collections(owner_id, n, private_every=0):
    """``n`` collections; every ``private_every``-th one private. Returns their ids in order."""
    rows = [
        {
            "owner_id": owner_id,
            "name": f"Collection {i:05d}",
            "description": f"study number {i}",
            "authors": f"Author{i % 7} Smith, Coauthor{i % 3}",
            "doi": f"10.5555/seed.{i}",
            "private": bool(private_every) and i % private_every == 0,
            "share_token": f"seed-share-{owner_id}-{i}",
            "extra": {},
            "image_count": 0,
        }
        for i in range(1, n + 1)
    ]
    db.session.execute(sa.insert(Collection), rows)
    return list(db.session.scalars(sa.select(Collection.id).where(Collection.owner_id == owner_id).order_by("id")))


def seed_images(collection_ids, n, uploader_id, status="ready"):
    """``n`` images spread over the collections, cycling through map types, modalities and flags."""
    start = (db.session.scalar(sa.select(sa.func.max(Image.id))) or 0) + 1
    cycle = itertools.cycle(collection_ids)
    rows = [
        {
            "collection_id": next(cycle),
            "uploader_id": uploader_id,
            "name": f"map {i:05d}",
            "description": "",
            "original_filename": f"map{i}.nii.gz",
            "map_type": MAP_TYPES[i % len(MAP_TYPES)],
            "modality": MODALITIES[i % len(MODALITIES)],
            "analysis_level": LEVELS[i % len(LEVELS)],
            "storage_key": f"seed/{i}",
            "file_size": 1000,
            "sha256": f"{i:064x}",
            "status": status,
            "is_thresholded": i % 4 == 0,
            "not_mni": i % 10 == 0,
            "extra": {},
        }
        for i in range(start, start + n)
    ]
    db.session.execute(sa.insert(Image), rows)
    refresh_counts(collection_ids)
    return list(range(start, start + n))


def refresh_counts(collection_ids):
    counts = sa.select(sa.func.count(Image.id)).where(Image.collection_id == Collection.id).scalar_subquery()
    db.session.execute(sa.update(Collection).where(Collection.id.in_(collection_ids)).values(image_count=counts))


def emotion_study(owner_id):
    """A public collection "Emotion" holding a ready map ("faces map") and one still processing, flushed."""
    collection = Collection(owner_id=owner_id, name="Emotion", authors="Ada Lovelace")
    db.session.add(collection)
    db.session.flush()
    ready = Image(collection=collection, uploader_id=owner_id, name="faces map", storage_key="k/1",
                  sha256="0" * 64, status="ready")
    unfinished = Image(collection=collection, uploader_id=owner_id, name="still processing",
                       storage_key="k/2", sha256="1" * 64, status="processing")
    db.session.add_all([ready, unfinished])
    db.session.flush()
    collection.refresh_image_count()
    return collection, ready, unfinished
