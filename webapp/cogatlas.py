"""Cognitive Atlas tasks and contrasts on a map: sent by name or by id, kept consistent where the pair is known.

NeuroVault stores a task as a row of its Cognitive Atlas copy and sends both the
name (``cognitive_paradigm_cogatlas``) and the id (``..._id``). No package on PyPI
or npm ships that vocabulary (``cognitiveatlas`` on PyPI queries the web service),
so neurodrop keeps no copy (decision 0019): a client may send either; an id sent
in the name field (pynv's examples do) moves to the id field, and the other half
of the pair is filled in from any map that already holds both.
"""

import re

import sqlalchemy as sa

from .extensions import db
from .models import Image

ID_SHAPE = re.compile(r"^(trm|tsk|cnt)_[0-9a-z]{8,20}$")
PAIRS = (
    ("cognitive_paradigm_cogatlas", "cognitive_paradigm_cogatlas_id"),
    ("cognitive_contrast_cogatlas", "cognitive_contrast_cogatlas_id"),
)


def known_partner(column, value, partner):
    """The ``partner`` value that a map already stores next to ``value`` in ``column``, or None."""
    stored, wanted = getattr(Image, column), getattr(Image, partner)
    return db.session.scalar(sa.select(wanted).where(stored == value, wanted.isnot(None)).limit(1))


def reconciled(changes):
    """The parsed image fields with each task/contrast given as both name and id where that is known."""
    for name_column, id_column in PAIRS:
        name, ident = changes.get(name_column), changes.get(id_column)
        if name and ID_SHAPE.match(name) and not ident:
            name, ident = None, name
        if ident and not name:
            name = known_partner(id_column, ident, name_column)
        elif name and not ident and id_column not in changes:
            ident = known_partner(name_column, name, id_column)
        if name_column in changes or id_column in changes:
            changes[name_column], changes[id_column] = name, ident
    return changes
