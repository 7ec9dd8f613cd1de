"""One contract for every storage backend: the same calls, the same answers, the same errors.

Each test runs on ``LocalStorage`` (a folder) and on ``S3Storage`` against a real
S3-compatible server process (moto's server mode).
"""

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from webapp.storage import TooLarge, artifact_key, new_key

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)
BAD_KEYS = ["../etc/passwd", "/etc/passwd", "originals/../../x", "originals", "Originals/ab", "a b/c", "", None]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def read_all(storage, key):
    with storage.open(key) as handle:
        return handle.read()


def test_put_bytes_then_open_size_exists(storage):
    key = artifact_key(7, "glass_brain")
    stored = storage.put_bytes(key, b"\x89PNG first")
    assert (stored.key, stored.size, stored.sha256) == (key, 10, sha(b"\x89PNG first"))
    assert storage.exists(key) and storage.size(key) == 10
    assert read_all(storage, key) == b"\x89PNG first"
    storage.put_bytes(key, b"replaced")
    assert read_all(storage, key) == b"replaced" and storage.size(key) == 8


def test_staging_file_commit_hashes_once(storage):
    key = new_key("originals")
    staged = storage.staging_file()
    for start in range(0, len(PAYLOAD), 65536):
        staged.write(PAYLOAD[start : start + 65536])
    stored = storage.commit(staged, key)
    assert (stored.size, stored.sha256) == (len(PAYLOAD), sha(PAYLOAD))
    assert staged.closed
    assert read_all(storage, key) == PAYLOAD
    assert storage.size(key) == len(PAYLOAD)


def test_staging_file_refuses_bytes_past_its_limit(storage):
    staged = storage.staging_file(max_bytes=10)
    staged.write(b"0123456789")
    with pytest.raises(TooLarge):
        staged.write(b"x")
    staged.close()


def test_put_stream(storage):
    key = new_key("originals")
    stored = storage.put_stream(key, io.BytesIO(PAYLOAD))
    assert (stored.size, stored.sha256) == (len(PAYLOAD), sha(PAYLOAD))
    assert read_all(storage, key) == PAYLOAD


def test_put_stream_past_the_limit_stores_nothing(storage):
    key = new_key("originals")
    with pytest.raises(TooLarge):
        storage.put_stream(key, io.BytesIO(b"x" * 100), max_bytes=99)
    assert not storage.exists(key)


def test_open_streams_in_chunks_and_seeks(storage):
    key = new_key("originals")
    storage.put_bytes(key, PAYLOAD)
    with storage.open(key) as handle:
        assert handle.read(5) == PAYLOAD[:5]
        assert handle.read(100) == PAYLOAD[5:105]
        handle.seek(2 * 1024 * 1024)
        assert handle.tell() == 2 * 1024 * 1024
        assert handle.read(1000) == PAYLOAD[2 * 1024 * 1024 : 2 * 1024 * 1024 + 1000]
        handle.seek(-7, io.SEEK_END)
        assert handle.read() == PAYLOAD[-7:]
        assert handle.read(10) == b""


def test_local_path_is_a_readable_copy_that_goes_away(storage):
    key = new_key("originals")
    storage.put_bytes(key, PAYLOAD)
    with storage.local_path(key) as path:
        assert path.read_bytes() == PAYLOAD
    if storage.__class__.__name__ == "S3Storage":
        assert not path.exists()
        assert list(storage.staging.glob("local-*")) == []


def test_delete_removes_and_is_quiet_about_missing_keys(storage):
    key = new_key("originals")
    storage.put_bytes(key, b"bytes")
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)


def test_append_then_promote_composes_the_parts_in_order(storage):
    partial = new_key("partials")
    storage.put_bytes(partial, b"")
    assert storage.exists(partial) and storage.size(partial) == 0
    pieces = [PAYLOAD[:1000], PAYLOAD[1000 : 2 * 1024 * 1024], b"", PAYLOAD[2 * 1024 * 1024 :]]
    offset = 0
    for piece in pieces:
        assert storage.append(partial, io.BytesIO(piece)) == len(piece)
        offset += len(piece)
        assert storage.size(partial) == offset and storage.exists(partial)
    key = new_key("originals")
    stored = storage.promote(partial, key)
    assert (stored.key, stored.size, stored.sha256) == (key, len(PAYLOAD), sha(PAYLOAD))
    assert read_all(storage, key) == PAYLOAD
    assert not storage.exists(partial)


def test_append_keeps_what_fits_under_the_limit(storage):
    partial = new_key("partials")
    storage.put_bytes(partial, b"")
    storage.append(partial, io.BytesIO(b"abc"))
    with pytest.raises(TooLarge):
        storage.append(partial, io.BytesIO(b"defghij"), max_bytes=4)
    assert storage.size(partial) == 7
    stored = storage.promote(partial, new_key("originals"))
    assert read_all(storage, stored.key) == b"abcdefg"


class BreaksOff(io.RawIOBase):
    """A client that sends some bytes and then disconnects."""

    def __init__(self, data):
        self.data = data
        self.sent = False

    def readable(self):
        return True

    def read(self, size=-1):
        if self.sent:
            raise ConnectionResetError("client went away")
        self.sent = True
        return self.data


def test_append_keeps_what_arrived_before_the_stream_broke(storage):
    partial = new_key("partials")
    with pytest.raises(ConnectionResetError):
        storage.append(partial, BreaksOff(b"12345"))
    assert storage.size(partial) == 5


def test_delete_removes_a_partial_object(storage):
    partial = new_key("partials")
    storage.append(partial, io.BytesIO(b"abc"))
    storage.append(partial, io.BytesIO(b"def"))
    storage.delete(partial)
    assert not storage.exists(partial)
    with pytest.raises(FileNotFoundError):
        storage.promote(partial, new_key("originals"))


@pytest.mark.parametrize("call", ["open", "size", "local_path", "promote"])
def test_missing_key_raises_file_not_found_with_the_key(storage, call):
    key = new_key("partials" if call == "promote" else "originals")
    with pytest.raises(FileNotFoundError) as info:
        if call == "local_path":
            with storage.local_path(key):
                pass
        elif call == "promote":
            storage.promote(key, new_key("originals"))
        else:
            getattr(storage, call)(key)
    assert info.value.args[0] == key
    assert storage.exists(key) is False


@pytest.mark.parametrize("bad", BAD_KEYS)
def test_every_method_refuses_keys_it_did_not_make(storage, bad):
    good = new_key("originals")
    calls = [
        lambda: storage.put_bytes(bad, b"x"),
        lambda: storage.put_stream(bad, io.BytesIO(b"x")),
        lambda: storage.commit(storage.staging_file(), bad),
        lambda: storage.open(bad),
        lambda: storage.size(bad),
        lambda: storage.exists(bad),
        lambda: storage.delete(bad),
        lambda: storage.append(bad, io.BytesIO(b"x")),
        lambda: storage.promote(bad, good),
        lambda: storage.promote(good, bad),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError):
        with storage.local_path(bad):
            pass


def staged_copy(storage, data):
    """A tus-style staging file (not hashed) holding ``data``, rewound to its start."""
    staged = storage.staging_file(hashed=False)
    staged.write(data)
    staged.flush()
    staged.seek(0)
    return staged


def test_append_of_a_staging_file_keeps_every_byte_and_the_limit(storage):
    partial = new_key("partials")
    storage.put_bytes(partial, b"")
    with staged_copy(storage, PAYLOAD[:1000]) as first, staged_copy(storage, PAYLOAD[1000:]) as rest:
        assert storage.append(partial, first) == 1000
        assert storage.append(partial, rest, max_bytes=len(PAYLOAD) - 1000) == len(PAYLOAD) - 1000
    with staged_copy(storage, b"too much") as extra, pytest.raises(TooLarge):
        storage.append(partial, extra, max_bytes=3)
    assert storage.size(partial) == len(PAYLOAD) + 3
    stored = storage.promote(partial, new_key("originals"))
    assert read_all(storage, stored.key) == PAYLOAD + b"too"
    assert stored.sha256 == sha(PAYLOAD + b"too")


def test_an_unhashed_staging_file_has_no_sha256(storage):
    with storage.staging_file(hashed=False) as staged:
        staged.write(b"abc")
        with pytest.raises(ValueError):
            assert staged.sha256


def test_a_staging_file_reads_back_every_byte_written_so_far(storage):
    """Blocks are hashed and written on the file's own thread; reading waits for them."""
    with storage.staging_file() as staged:
        for start in range(0, len(PAYLOAD), 1000):
            staged.write(PAYLOAD[start : start + 1000])
        staged.seek(0)
        assert staged.read() == PAYLOAD and staged.sha256 == sha(PAYLOAD)


def test_a_failed_background_write_is_raised_to_the_writer(storage, monkeypatch):
    staged = storage.staging_file()

    def disk_full(block):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(staged._file, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        for start in range(0, len(PAYLOAD), 65536):
            staged.write(PAYLOAD[start : start + 65536])
        staged.flush()
    staged.close()
    assert staged.closed


def test_promote_takes_a_digest_the_caller_already_has(storage):
    partial = new_key("partials")
    storage.put_bytes(partial, b"")
    with staged_copy(storage, PAYLOAD) as whole:
        storage.append(partial, whole)
    stored = storage.promote(partial, new_key("originals"), known_sha256=sha(PAYLOAD))
    assert (stored.size, stored.sha256) == (len(PAYLOAD), sha(PAYLOAD))
    assert read_all(storage, stored.key) == PAYLOAD


def test_stale_staging_files_are_removed_and_live_ones_kept(storage):
    """What a process that died mid-upload left in the staging folder goes; a file being written stays."""
    leftover = storage.staging / "incoming-left-by-a-dead-process"
    leftover.write_bytes(b"half an upload")
    day_ago = time.time() - 86400
    os.utime(leftover, (day_ago, day_ago))
    with storage.staging_file() as live:
        live.write(b"arriving now")
        live.flush()
        assert storage.remove_stale_staging_files(6 * 3600) == 1
        assert not leftover.exists() and Path(live.name).exists()
