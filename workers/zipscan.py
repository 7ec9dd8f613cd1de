"""A zip whose index is gone, read from the headers in front of each member: what came before the damage is kept.

A zip's index (the central directory) is written last, so a download or an upload cut short loses it first,
and ``zipfile`` then refuses the whole archive. Each member is also preceded by a local header with its name,
method and sizes, which is how streaming tools (``unzip -FF``, Java's ``ZipInputStream``) read one front to
back. ``workers.unpack`` falls back on this walk: members read whole become maps as usual, the member the cut
falls in fails with its reason, and the walk stops saying why. A member written with a data descriptor (sizes
after the data, as streaming writers do) is inflated to its end marker. Links cannot be told apart here (their
mode lives in the lost index), but nothing is ever written by name or followed, so a link is only a small member
that is no map. Pure: a path in, ``unpack.Member`` values out (``unpack.walk_zip`` imports this module when it
needs it, so the two do not import each other at load time).
"""

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from workers import unpack

LOCAL = struct.Struct("<4sHHHHHIIIHH")
LOCAL_SIGNATURE = b"PK\x03\x04"
INDEX_SIGNATURES = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")
DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
ENCRYPTED, HAS_DESCRIPTOR, UTF8_NAME = 0x1, 0x8, 0x800
STORED, DEFLATED = 0, 8
ZIP64_EXTRA = 0x0001
CHUNK = 1024 * 1024


class Cut(Exception):
    """The bytes stop (or stop making sense) where a header, a member's data or its descriptor should be."""


@dataclass
class LocalEntry:
    """What a local header says about the member after it."""

    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int

    @property
    def sizes_known(self):
        return not (self.flags & HAS_DESCRIPTOR) or self.compressed_size > 0

    def unreadable_reason(self):
        """Why the member's bytes are not read (encrypted, a method we do not inflate), or None."""
        if self.flags & ENCRYPTED:
            return "an encrypted member: never read"
        if self.method not in (STORED, DEFLATED):
            return unpack.unsupported_method(self.method)
        if self.method == STORED and not self.sizes_known:
            return "a stored member whose size is written after it (the index that would give it is lost)"
        return None


def read_exact(handle, size):
    data = handle.read(size)
    if len(data) < size:
        raise Cut(f"the file ends {size - len(data):,} bytes short of what the zip needs there")
    return data


def next_entry(handle):
    """The next local header, or None where the index (or the end of the file) begins."""
    position = handle.tell()
    signature = handle.read(4)
    if not signature:
        raise Cut(f"the file ends at byte {position:,}, where the next member or the index should start")
    if signature in INDEX_SIGNATURES:
        return None
    if signature != LOCAL_SIGNATURE:
        raise Cut(f"no member header at byte {position:,} (found {signature!r})")
    fields = LOCAL.unpack(signature + read_exact(handle, LOCAL.size - 4))
    _sig, _version, flags, method, _time, _date, crc, compressed_size, size, name_length, extra_length = fields
    raw_name = read_exact(handle, name_length)
    extra = read_exact(handle, extra_length)
    name = raw_name.decode("utf-8" if flags & UTF8_NAME else "cp437", errors="replace")
    compressed_size, size = zip64_sizes(extra, compressed_size, size)
    return LocalEntry(name, flags, method, crc, compressed_size, size)


def zip64_sizes(extra, compressed_size, size):
    """The real sizes from the zip64 extra field when the header's say 0xFFFFFFFF."""
    while len(extra) >= 4:
        tag, length = struct.unpack("<HH", extra[:4])
        if tag == ZIP64_EXTRA:
            values = list(struct.unpack(f"<{min(length, 16) // 8}Q", extra[4:4 + min(length, 16) // 8 * 8]))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed_size == 0xFFFFFFFF and values:
                compressed_size = values.pop(0)
        extra = extra[4 + length:]
    return compressed_size, size


class EntryData:
    """One member's inflated bytes, read front to back from the file; ``finish`` moves past the member.

    Damage shows as ``zlib.error`` or ``EOFError``, which ``unpack.BoundedStream`` names for the member.
    """

    def __init__(self, handle, entry, file_size):
        self._handle = handle
        self._file_size = file_size
        self._entry = entry
        self._left = entry.compressed_size if entry.sizes_known else None
        self._inflate = zlib.decompressobj(-15) if entry.method == DEFLATED else None
        self._crc = 0
        self.done = False

    def _compressed(self, size):
        wanted = size if self._left is None else min(size, self._left)
        data = self._handle.read(wanted) if wanted else b""
        if wanted and not data:
            raise EOFError("the zip ends inside this member: it was cut short")
        if self._left is not None:
            self._left -= len(data)
        return data

    def read(self, size=CHUNK):
        if self.done:
            return b""
        if self._inflate is None:
            data = self._compressed(size)
            self.done = self._left == 0
        else:
            data = self._inflated(size)
        self._crc = zlib.crc32(data, self._crc)
        if self.done:
            self._check_crc()
        return data

    def _inflated(self, size):
        while True:
            pending = self._inflate.unconsumed_tail or self._compressed(CHUNK)
            data = self._inflate.decompress(pending, size)
            if self._inflate.eof:
                self._give_back(self._inflate.unused_data)
                self.done = True
                return data
            if data:
                return data
            if not pending:
                raise EOFError("the member's compressed data end without their end marker: it was cut short")

    def _give_back(self, unused):
        """Bytes read past the deflate stream's end belong to what follows the member."""
        if unused:
            self._handle.seek(-len(unused), 1)
            if self._left is not None:
                self._left += len(unused)

    def _check_crc(self):
        expected = self._read_descriptor() if self._entry.flags & HAS_DESCRIPTOR else self._entry.crc
        if self._left:
            self._handle.seek(self._left, 1)
            self._left = 0
        if expected is not None and self._crc != expected:
            raise zlib.error(f"its checksum is {self._crc:08x}, the zip says {expected:08x}: the bytes are damaged")

    def _read_descriptor(self):
        """The CRC from the data descriptor after the member (its signature is optional)."""
        if self._left:
            self._handle.seek(self._left, 1)
            self._left = 0
        head = self._handle.read(4)
        if head == DESCRIPTOR_SIGNATURE:
            head = self._handle.read(4)
        rest = self._handle.read(8)
        if len(head) < 4 or len(rest) < 8:
            raise EOFError("the zip ends inside this member's data descriptor: it was cut short")
        return struct.unpack("<I", head)[0]

    def finish(self, spend):
        """Move past the member, whether or not it was read; ``spend`` counts what is inflated to find its end."""
        try:
            if not self.done and self._entry.sizes_known:
                self._skip_rest()
            while not self.done:
                if self._entry.unreadable_reason():
                    raise Cut("its size is written after it, and it cannot be inflated to find its end")
                spend(len(self.read(CHUNK)))
        except (EOFError, zlib.error) as exc:
            raise Cut(str(exc)) from None

    def _skip_rest(self):
        if self._handle.tell() + self._left > self._file_size:
            raise EOFError("the zip ends inside this member: it was cut short")
        self._handle.seek(self._left, 1)
        self._left = 0
        self.done = True
        if self._entry.flags & HAS_DESCRIPTOR:
            self._read_descriptor()


def walk_local_headers(path, bounds) -> Iterator[unpack.Member]:
    """Each member found from the front of a zip whose index is unreadable, then why the walk ended."""
    with open(path, "rb") as handle:
        file_size = os.fstat(handle.fileno()).st_size
        budget = unpack.Budget(bounds, compressed_bytes=handle.tell)
        count = 0
        while True:
            try:
                entry = next_entry(handle)
            except Cut as exc:
                yield unpack.stopped(lost_at(count + 1, exc))
                return
            if entry is None:
                yield unpack.stopped(f"the zip's index (its central directory) is damaged; its {count:,} members "
                                     "were read from their own headers instead")
                return
            count += 1
            reason = unpack.stop_reason(count, bounds, budget)
            if reason:
                yield unpack.stopped(reason)
                return
            data = EntryData(handle, entry, file_size)
            if not entry.name.endswith("/"):
                yield local_member(entry, data, bounds, budget)
            try:
                data.finish(budget.spend)
            except (Cut, unpack.MemberFailed) as exc:
                yield unpack.stopped(lost_at(count, exc))
                return


def local_member(entry, data, bounds, budget):
    """The member for a local header, with its bounded stream when it is one to read."""
    member = unpack.sized_member(entry.name, entry.size, bounds)
    reason = unpack.unsafe_name_reason(entry.name) or entry.unreadable_reason() or size_reason(entry, bounds)
    if reason:
        member.kind, member.reason = "skipped", reason
    elif member.kind != "skipped":
        limit = entry.size if entry.sizes_known else bounds.max_member_bytes
        member.stream = unpack.BoundedStream(data, limit, budget, "its size in its header")
    return member


def size_reason(entry, bounds):
    """Why a member's declared sizes are refused before reading (past one map's limit, a bomb's ratio), or None."""
    if not entry.sizes_known:
        return None
    return bounds.declared_size_reason(entry.size, entry.compressed_size)


def lost_at(number, exc):
    """Why the walk ended at member ``number`` (counting from 1)."""
    return (f"the zip is truncated or damaged: its index (the central directory at its end) is unreadable, so "
            f"its members were read from their own headers, and reading stopped at member {number:,} ({exc}); "
            "anything after it was not read")
