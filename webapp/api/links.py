"""Absolute links for a page of images, built from per-request templates instead of ``url_for`` per image.

A list of 100 images needs 600 links; building each through the URL map cost about half of the
serialisation. Within a request, each (endpoint, fixed arguments) is built once with marker values,
and later links replace the markers with the image's id and file name. The marker must come out of
the URL map unchanged and once; otherwise the link is built plainly.
"""

from flask import g, has_request_context

from ..urls import absolute_url

#: Stands for the id while a template is built: a valid id (``int(max=2147483647)``) no link holds otherwise.
ID_MARK = 2147483647
#: Stands for the file name: URL-safe, as every ``url_file_name`` is, so the URL map leaves both as they are.
NAME_MARK = "zzFILExNAMEzz.nii.gz"


class Links:
    """The link templates of one request (or of one serialisation, outside a request)."""

    def __init__(self):
        self.cache = {}

    def id_link(self, endpoint, id_name, id_value, file_name=None, **fixed):
        """``absolute_url(endpoint, **{id_name: id_value}, [file_name=...], **fixed)``; ``id_value`` a whole number."""
        key = (endpoint, id_name, file_name is not None, *sorted(fixed.items())) if fixed else (
            endpoint, id_name, file_name is not None)
        parts = self.cache.get(key)
        if parts is None:
            built = absolute_url(endpoint, **{id_name: ID_MARK}, **named(file_name and NAME_MARK), **fixed)
            parts = self.cache[key] = split_marks(built, file_name is not None)
        if not parts:
            return absolute_url(endpoint, **{id_name: id_value}, **named(file_name), **fixed)
        if file_name is None:
            return f"{parts[0]}{id_value}{parts[1]}"
        return f"{parts[0]}{id_value}{parts[1]}{file_name}{parts[2]}"

    def image_link(self, endpoint, image_id, file_name=None, **fixed):
        return self.id_link(endpoint, "image_id", image_id, file_name, **fixed)

    def fixed_link(self, endpoint, **values):
        """``absolute_url`` remembered: a private collection's links, the same for all its images."""
        key = ("fixed", endpoint, *sorted(values.items()))
        link = self.cache.get(key)
        if link is None:
            link = self.cache[key] = absolute_url(endpoint, **values)
        return link


def request_links():
    """This request's ``Links`` (a fresh one outside a request, as in a worker)."""
    if not has_request_context():
        return Links()
    if "api_links" not in g:
        g.api_links = Links()
    return g.api_links


def named(file_name):
    return {} if file_name is None else {"file_name": file_name}


def split_marks(built, with_name):
    """The text around the id mark (and after it, around the name mark), or () when a mark is not there once."""
    id_mark = str(ID_MARK)
    if built.count(id_mark) != 1:
        return ()
    head, tail = built.split(id_mark)
    if not with_name:
        return (head, tail)
    if tail.count(NAME_MARK) != 1 or NAME_MARK in head:
        return ()
    middle, end = tail.split(NAME_MARK)
    return (head, middle, end)
