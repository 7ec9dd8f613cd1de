"""A file committed to local storage is on the disk, under its name, before the upload is acknowledged."""

import os

from webapp.storage import LocalStorage
from webapp.storage import staging as staging_module


def test_commit_syncs_the_bytes_before_the_name_and_the_folder_after(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path / "storage")
    calls = []
    real_fdatasync, real_fsync, real_link = os.fdatasync, os.fsync, os.link
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append("data"), real_fdatasync(fd))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("folder"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "link", lambda *a: (calls.append("link"), real_link(*a))[1])
    staged = storage.staging_file()
    staged.write(b"x" * 3_000_000)
    stored = storage.commit(staged, "originals/ab/cd/one.nii")
    assert calls == ["data", "link", "folder"]
    assert storage.size(stored.key) == 3_000_000


def test_a_long_upload_is_written_back_as_it_arrives(tmp_path, monkeypatch):
    """The commit's fdatasync then waits for the last blocks, not the whole file (figure 3 keeps its speed)."""
    asked = []
    monkeypatch.setattr(staging_module.StagingFile, "WRITEBACK_EVERY", 2 * 1024 * 1024)
    monkeypatch.setattr(staging_module, "DROP_FROM_CACHE",
                        lambda fd, start, length, advice: asked.append((start + length, advice)))
    staged = LocalStorage(tmp_path / "storage").staging_file()
    for _ in range(9):
        staged.write(b"y" * 1024 * 1024)
    staged.flush()
    assert asked == [(n * 1024 * 1024, os.POSIX_FADV_DONTNEED) for n in (2, 4, 6, 8)]
    assert staged.read() == b""  # at the end: every byte was written (position after the last)
    staged.seek(0)
    assert staged.read() == b"y" * 9 * 1024 * 1024
    staged.close()
