"""Collections: list, create, edit, delete, share."""

import functools
import secrets

import sqlalchemy as sa
from flask import abort, flash, get_template_attribute, redirect, render_template, url_for
from flask_security import auth_required, current_user
from markupsafe import Markup
from sqlalchemy.orm import joinedload, load_only, selectinload

from ..access import (
    collection_visible_or_404,
    editable_collection_or_404,
    remember_share,
    session_can_see,
    visible_collection_or_404,
)
from ..cards import IMAGE_CARD_COLUMNS, ImageCard
from ..extensions import db
from ..files import delete_collection
from ..keyset import capped_count, keyset_page
from ..listing import SORTS, CollectionFilters, page_number
from ..metadata import COLLECTION_FIELDS, filled_in
from ..models import Collection, Image, utcnow
from ..pagecache import COLLECTIONS_LIST, collection_scope, depends_on, kept_while_current, shared_with_visitors
from ..pagefragments import Building, kept_pieces
from ..pagerows import collection_row
from ..templating import image_card_html
from ..text import multi_line, one_line
from ..viewercopies import kept_per_viewer
from . import bp
from .forms import CollectionForm, ConfirmForm

PER_PAGE = 24
#: A collection card's columns and its owner's, in two queries for the whole page.
CARD_LOADING = (
    load_only(Collection.id, Collection.name, Collection.image_count, Collection.private, Collection.authors,
              Collection.description, Collection.doi, Collection.owner_id),
    selectinload(Collection.owner),
)


def fill_collection(collection, form):
    """Copy the form into the collection, empty strings as NULL where the column is optional."""
    collection.name = one_line(form.name.data)
    collection.description = multi_line(form.description.data)
    collection.authors = one_line(form.authors.data)
    if (one_line(form.doi.data) or None) not in (None, collection.doi):
        collection.doi_add_date = utcnow()
    collection.doi = one_line(form.doi.data) or None
    collection.paper_url = one_line(form.paper_url.data) or None
    collection.journal_name = one_line(form.journal_name.data) or None
    collection.full_dataset_url = one_line(form.full_dataset_url.data) or None
    collection.private = bool(form.private.data)
    for column, value in form.design_values().items():
        setattr(collection, column, value)


@bp.route("/")
@shared_with_visitors
@kept_per_viewer
def index():
    """Public collections, searched and sorted: the page's ids in one query, each card kept per collection and
    generation (``pagefragments``), the cards to build read with their owners in two more."""
    depends_on(COLLECTIONS_LIST)
    filters = CollectionFilters.from_request()
    query = filters.narrow(Collection.public_query())
    count = functools.partial(capped_count, db.session, query)
    if not filters.q:
        total = functools.partial(db.session.scalar, sa.select(sa.func.count()).select_from(query.subquery()))
        count = functools.partial(kept_while_current, "public_collection_count", [COLLECTIONS_LIST], total)
    page = keyset_page(db.session, query.with_only_columns(Collection.id), Collection, filters.sort, page_number(),
                       PER_PAGE, count, capped=bool(filters.q), shape=Listed)
    pairs = [(item.id, collection_scope(item.id)) for item in page.items]
    cards = kept_pieces("collection card", pairs, collection_cards)
    return render_template("collections/index.html", page=page, filters=filters, sorts=SORTS,
                           cards=[cards[item.id] for item in page.items if item.id in cards])


class Listed:
    """A listed row known by its id alone (its card is kept, or built from the row read again)."""

    __slots__ = ("id",)

    def __init__(self, row):
        self.id = row[0]


def collection_cards(collection_ids):
    """The ``collection_card`` macro's HTML for these collections, read with their owners: {id: card}. Read
    through the public list's own query, so a collection made private since the page's ids were read is left out."""
    card = get_template_attribute("macros/cards.html", "collection_card")
    rows = db.session.scalars(Collection.public_query().where(Collection.id.in_(collection_ids)).options(*CARD_LOADING))
    return {collection.id: card(collection) for collection in rows}


@bp.route("/mine")
@auth_required("session")
def mine():
    query = sa.select(Collection).where(Collection.owner_id == current_user.id).order_by(Collection.id.desc())
    page = db.paginate(query, page=page_number(), per_page=PER_PAGE, error_out=False)
    return render_template("collections/mine.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@auth_required("session")
def create():
    form = CollectionForm()
    if form.validate_on_submit():
        if Collection.doi_taken(form.doi.data):
            form.doi.errors.append("Another collection already has this DOI.")
        else:
            collection = Collection(owner=current_user)
            fill_collection(collection, form)
            db.session.add(collection)
            db.session.commit()
            flash("Collection created. Now upload your maps.", "success")
            return redirect(url_for("collections.detail", collection_id=collection.id))
    return render_template("collections/form.html", form=form, collection=None), 400 if form.errors else 200


@bp.route("/<int:collection_id>")
@shared_with_visitors
@kept_per_viewer
def detail(collection_id):
    """The collection and a page of its images, oldest first; the pager's total is the stored ``image_count``,
    not a COUNT, and its links are keyset links (a collection of 200,000 maps: its last page walked 192,000 rows
    by OFFSET, ~220 ms; now it costs what the first does). What the collection and its owner's name show is kept
    per generation (``pagefragments``)."""
    building = Building("collection page", collection_id, collection_scope(collection_id))
    if building.kept is not None:
        collection = collection_visible_or_404(collection_row(collection_id), current_user)
    else:
        collection = visible_collection_or_404(collection_id, options=(joinedload(Collection.owner),))
    depends_on(collection_scope(collection.id))
    top = building.kept
    if top is None:
        top = Markup(render_template("collections/_page_top.html", collection=collection,
                                     metadata=filled_in(collection, COLLECTION_FIELDS)))
        building.keep(collection_scope(collection.id), top)
    query = sa.select(*IMAGE_CARD_COLUMNS).where(Image.collection_id == collection.id)
    if not collection.editable_by(current_user):
        query = query.where(Image.unpublished_reason.is_(None))
    page = keyset_page(db.session, query, Image, "old", page_number(), PER_PAGE, lambda: collection.image_count,
                       shape=ImageCard)
    cards = building.pieces_of_rows("card in its collection", page.items, functools.partial(image_card_html,
                                                                                         show_collection=False))
    return render_template("collections/detail.html", collection=collection, page=page, top=top,
                           can_edit=collection.editable_by(current_user), cards=Markup("".join(cards)))


@bp.route("/<int:collection_id>/edit", methods=["GET", "POST"])
@auth_required("session")
def edit(collection_id):
    collection = editable_collection_or_404(collection_id)
    form = CollectionForm(obj=collection)
    if form.validate_on_submit():
        if Collection.doi_taken(form.doi.data, other_than=collection):
            form.doi.errors.append("Another collection already has this DOI.")
        else:
            fill_collection(collection, form)
            db.session.commit()
            flash("Collection saved.", "success")
            return redirect(url_for("collections.detail", collection_id=collection.id))
    return render_template("collections/form.html", form=form, collection=collection), 400 if form.errors else 200


@bp.route("/<int:collection_id>/delete", methods=["GET", "POST"])
@auth_required("session")
def delete(collection_id):
    collection = editable_collection_or_404(collection_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        delete_collection(collection)
        flash(f"Collection “{collection.name}” deleted.", "success")
        return redirect(url_for("collections.mine"))
    return render_template("collections/delete.html", form=form, collection=collection)


@bp.route("/<int:collection_id>/share-link", methods=["POST"])
@auth_required("session")
def new_share_link(collection_id):
    """Replace the share link, so people who had the old one lose access."""
    collection = editable_collection_or_404(collection_id)
    collection.share_token = secrets.token_urlsafe(24)
    db.session.commit()
    flash("A new share link was made; the old one no longer works.", "success")
    return redirect(url_for("collections.detail", collection_id=collection.id))


@bp.route("/<int:collection_id>/privacy", methods=["POST"])
@auth_required("session")
def toggle_privacy(collection_id):
    """Make a collection private or public from its page (a POST with the page's CSRF token)."""
    collection = editable_collection_or_404(collection_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    collection.private = not collection.private
    db.session.commit()
    if collection.private:
        flash("The collection is now private: only you and people with the share link can see it.", "success")
    else:
        flash("The collection is now public: anyone can find and see it.", "success")
    return redirect(url_for("collections.detail", collection_id=collection.id))


@bp.route("/share/<token>")
def shared(token):
    """Open a private collection by its share link; the browser session keeps read access."""
    collection = Collection.by_share_token(token)
    if collection is None:
        abort(404)
    if not session_can_see(collection):
        remember_share(collection)
    return redirect(url_for("collections.detail", collection_id=collection.id))

