"""``unpromote``: the bytes of a promoted upload become its partial object again (a tus finish that failed)."""

import io

from webapp.storage import new_key


def test_unpromote_gives_back_a_partial_that_appends_and_promotes_again(storage):
    partial = new_key("partials")
    storage.put_bytes(partial, b"")
    storage.append(partial, io.BytesIO(b"first half "))
    storage.append(partial, io.BytesIO(b"second half"))
    original = new_key("originals")
    storage.promote(partial, original)
    storage.unpromote(original, partial)
    assert not storage.exists(original)
    assert storage.size(partial) == len(b"first half second half")
    again = storage.promote(partial, new_key("originals"))
    with storage.open(again.key) as handle:
        assert handle.read() == b"first half second half"
