"""Walking an uploaded archive (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``) member by member, within bounds.

An archive is the most hostile upload there is: a zip bomb inflates a few kilobytes into terabytes, a member
named ``../../etc/passwd`` or ``/etc/passwd`` aims outside any folder, a symlink or a device points at the
machine, an archive inside an archive multiplies every bound, and ten thousand empty members cost a row each.
So nothing here writes a file by a member's name: each member is handed to the caller as a bounded stream (the
caller stores the bytes under a key of its own), links and devices are never opened, nested archives are not
entered, and the whole walk stops at a member count, a total of inflated bytes and a compression ratio. One
bad member is skipped with its reason and the walk goes on; what stops the walk says why, and what came before
it stays. Pure: a path in, members out.
"""

import re
import stat
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

MIB = 1024 * 1024
READ_CHUNK = MIB

MAP_SUFFIXES = (".nii", ".nii.gz")
PAIR_SUFFIXES = (".hdr", ".img", ".hdr.gz", ".img.gz")
SIDECAR_SUFFIXES = (".json",)
NESTED_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".7z", ".rar", ".gz",
                   ".bz2", ".xz", ".zst")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
IGNORED_PARTS = ("__MACOSX", ".DS_Store")


@dataclass(frozen=True)
class Bounds:
    """How much one archive may hold; the defaults are the site's, the tests pass small ones."""

    max_members: int = 5000
    max_total_bytes: int = 8 * 1024 * MIB
    max_member_bytes: int = 2 * 1024 * MIB
    max_ratio: int = 500
    ratio_floor_bytes: int = 16 * MIB
    max_sidecar_bytes: int = MIB

    def declared_size_reason(self, size: int, compressed_size: int) -> str | None:
        """Why a member whose header declares these sizes is not read (past one map's limit, a bomb's ratio)."""
        if size > self.max_member_bytes:
            return f"it inflates to {size:,} bytes, past the {self.max_member_bytes:,} allowed for one map"
        if size > self.ratio_floor_bytes and size > max(compressed_size, 1) * self.max_ratio:
            return (f"it inflates {size:,} bytes from {compressed_size:,} (more than "
                    f"{self.max_ratio}:1): it looks like a zip bomb")
        return None


@dataclass
class Member:
    """One member: its name (cleaned for display), what it is for us, why it is skipped, and its bytes.

    ``kind`` is ``map``, ``pair`` (half of a ``.hdr``/``.img`` pair), ``sidecar`` or ``skipped``; a ``stopped``
    member has no name and says why the walk ended early. ``stream`` must be read before asking for the next.
    """

    name: str
    kind: str
    reason: str | None = None
    size: int | None = None
    stream: object = None


class ArchiveRefused(ValueError):
    """The file cannot be walked at all (not an archive, or its index is missing), with the reason."""


class MemberFailed(ValueError):
    """Reading one member crossed a bound or hit damaged bytes; the reason names which."""


def is_archive_name(filename):
    """Whether an uploaded file's name says it is an archive we unpack."""
    return (filename or "").lower().endswith(ARCHIVE_SUFFIXES)


def display_name(name):
    """A member name safe to show: printable characters only, bounded length."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else "?" for ch in name)
    return text[:500] or "(unnamed)"


def unsafe_name_reason(name):
    """Why a member name is refused (absolute, parent folders, a drive letter), or None."""
    normal = name.replace("\\", "/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        return "an absolute path: members must be relative to the archive"
    if ".." in normal.split("/"):
        return "a name with '..' that points outside the archive: never written"
    if "\x00" in name:
        return "a name with a NUL byte"
    return None


def kind_of(name):
    """(kind, reason) from a member's name: a map, a pair half, a sidecar, or skipped with why."""
    lowered = name.lower()
    base = lowered.rsplit("/", 1)[-1]
    if any(part in IGNORED_PARTS for part in name.split("/")) or base.startswith("._"):
        return "skipped", "operating-system metadata, not a map"
    if lowered.endswith(MAP_SUFFIXES):
        return "map", None
    if lowered.endswith(PAIR_SUFFIXES):
        return "pair", None
    if lowered.endswith(SIDECAR_SUFFIXES):
        return "sidecar", None
    if lowered.endswith(NESTED_SUFFIXES):
        return "skipped", "an archive inside the archive is not opened: upload it on its own"
    return "skipped", "not a NIfTI map (.nii, .nii.gz) or a .hdr/.img pair"


class Budget:
    """The inflated bytes the whole walk may read, and the compressed bytes behind them (for the ratio)."""

    def __init__(self, bounds, compressed_bytes=None):
        self.bounds = bounds
        self.inflated = 0
        self.compressed_bytes = compressed_bytes

    def spend(self, count):
        self.inflated += count
        if self.inflated > self.bounds.max_total_bytes:
            raise MemberFailed(f"the archive inflates past {self.bounds.max_total_bytes:,} bytes in all "
                               "(the limit for one archive): it may be a zip bomb")
        compressed = self.compressed_bytes() if self.compressed_bytes else None
        if compressed and self.inflated > self.bounds.ratio_floor_bytes and \
                self.inflated > compressed * self.bounds.max_ratio:
            raise MemberFailed(f"the archive inflates more than {self.bounds.max_ratio}:1 "
                               f"({self.inflated:,} bytes from {compressed:,}): it looks like a zip bomb")

    @property
    def exhausted(self):
        return self.inflated >= self.bounds.max_total_bytes


class BoundedStream:
    """A member's bytes, counted against its own limit and the walk's budget, damaged data named as such."""

    def __init__(self, raw, limit, budget, what):
        self._raw = raw
        self._limit = limit
        self._budget = budget
        self._what = what
        self.read_bytes = 0

    def read(self, size=READ_CHUNK):
        try:
            data = self._raw.read(size if size and size > 0 else READ_CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError, OSError) as exc:
            raise MemberFailed(f"its bytes are damaged or cut short ({type(exc).__name__}: {exc})") from None
        self.read_bytes += len(data)
        if self.read_bytes > self._limit:
            raise MemberFailed(f"it inflates past {self._limit:,} bytes ({self._what})")
        self._budget.spend(len(data))
        return data


def zip_member_reason(info, bounds):
    """Why a zip entry is not read (a link, a device, a ratio no map has), or None."""
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
        return "a symbolic link or special file: never followed or written"
    return bounds.declared_size_reason(info.file_size, info.compress_size)


def tar_member_reason(info):
    """Why a tar entry is not read (links, devices, fifos), or None."""
    if info.issym() or info.islnk():
        return "a symbolic or hard link: never followed or written"
    if not info.isfile():
        return "a device, fifo or other special file: never opened"
    return None


def sized_member(name, size, bounds):
    """The member for a regular file's name: its kind, and a bound on sidecars that are too big to read."""
    kind, reason = kind_of(name)
    if kind == "sidecar" and size > bounds.max_sidecar_bytes:
        return Member(display_name(name), "skipped", f"a JSON sidecar of {size:,} bytes (more than "
                                                     f"{bounds.max_sidecar_bytes:,} is not read)", size)
    return Member(display_name(name), kind, reason, size)


def stopped(reason):
    return Member("", "stopped", reason)


def stop_reason(count, bounds, budget):
    """Why the walk ends before the ``count``-th entry (too many members, the inflated bytes spent), or None."""
    if count > bounds.max_members:
        return f"the archive holds more than {bounds.max_members:,} members; the rest were not read"
    if budget.exhausted:
        return "the archive's inflated bytes reached the limit; the rest were not read"
    return None


def walk_zip(path, bounds) -> Iterator[Member]:
    """Through the zip's index; a zip whose index is lost (cut short) is read from its members' own headers."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        if not starts_with_member(path):
            raise ArchiveRefused(f"the zip's index (its central directory) is missing or damaged, and no member "
                                 f"follows its start: the file is truncated or not a zip ({exc})") from None
        from workers import zipscan

        yield from zipscan.walk_local_headers(path, bounds)
        return
    with archive:
        budget = Budget(bounds)
        for count, info in enumerate(archive.infolist(), start=1):
            reason = stop_reason(count, bounds, budget)
            if reason:
                yield stopped(reason)
                return
            if info.is_dir():
                continue
            reason = unsafe_name_reason(info.filename) or zip_member_reason(info, bounds)
            member = sized_member(info.filename, info.file_size, bounds)
            if reason:
                member.kind, member.reason = "skipped", reason
            if member.kind != "skipped":
                try:
                    raw = archive.open(info)
                except NotImplementedError:
                    member.kind, member.reason = "skipped", unsupported_method(info.compress_type)
                except (zipfile.BadZipFile, RuntimeError, OSError) as exc:
                    member.kind, member.reason = "skipped", f"it cannot be read ({exc})"
                else:
                    with raw:
                        member.stream = BoundedStream(raw, info.file_size, budget, "its size in the zip's index")
                        yield member
                    continue
            yield member


ZIP_METHODS = {9: "Deflate64, which Windows uses for large files", 6: "Implode", 12: "bzip2", 14: "LZMA",
               93: "Zstandard", 95: "XZ", 98: "PPMd"}


def unsupported_method(method):
    """Why a member compressed with a method we cannot inflate is skipped, and how to make one we can."""
    name = ZIP_METHODS.get(method, "an unusual method")
    return (f"compressed with zip method {method} ({name}), which cannot be read here: make the archive again "
            "with ordinary deflate (zip -r, 7-Zip's 'Deflate'), or as a .tar.gz")


def starts_with_member(path):
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


class CountingFile:
    """The archive file, counting the compressed bytes read from it (the ratio's denominator)."""

    def __init__(self, handle):
        self._handle = handle
        self.count = 0

    def read(self, size=-1):
        data = self._handle.read(size)
        self.count += len(data)
        return data


def walk_tar(path, bounds) -> Iterator[Member]:
    with open(path, "rb") as handle:
        counted = CountingFile(handle)
        budget = Budget(bounds, compressed_bytes=lambda: counted.count)
        try:
            archive = tarfile.open(fileobj=counted, mode="r|*")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise ArchiveRefused(f"the archive cannot be read as tar ({exc})") from None
        entries = iter(archive)
        count = 0
        while True:
            try:
                info = next(entries)
            except StopIteration:
                return
            except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                yield stopped(f"the archive is truncated or damaged after {count:,} members "
                              f"({type(exc).__name__}: {exc}); the rest were not read")
                return
            count += 1
            reason = stop_reason(count, bounds, budget)
            if reason:
                yield stopped(reason)
                return
            if info.isdir():
                continue
            yield tar_member(archive, info, bounds, budget)


def tar_member(archive, info, bounds, budget):
    """The member for a tar entry, with its bounded stream when it is one to read."""
    reason = unsafe_name_reason(info.name) or tar_member_reason(info)
    member = sized_member(info.name, info.size, bounds)
    if reason:
        member.kind, member.reason = "skipped", reason
    elif info.size > bounds.max_member_bytes:
        member.kind = "skipped"
        member.reason = f"it holds {info.size:,} bytes, past the {bounds.max_member_bytes:,} allowed for one map"
    elif member.kind != "skipped":
        member.stream = BoundedStream(archive.extractfile(info), info.size, budget, "its size in the tar header")
    return member


def archive_format(path):
    """'zip' or 'tar' from the file's first bytes (never from its name); refused otherwise."""
    with open(path, "rb") as handle:
        head = handle.read(262 + 8)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar":
        return "tar"
    raise ArchiveRefused("the file is not a zip, a tar or a gzipped tar (its first bytes say otherwise)")


def walk(path, bounds=Bounds()) -> Iterator[Member]:
    """Every member of the archive in order; read each yielded stream before asking for the next."""
    if archive_format(path) == "zip":
        yield from walk_zip(path, bounds)
    else:
        yield from walk_tar(path, bounds)


def read_all(member, limit):
    """A small member's whole content (a sidecar), bounded."""
    chunks, total = [], 0
    while data := member.stream.read(READ_CHUNK):
        total += len(data)
        if total > limit:
            raise MemberFailed(f"it holds more than {limit:,} bytes")
        chunks.append(data)
    return b"".join(chunks)
