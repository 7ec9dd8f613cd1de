"""workers.unpack: archives walked member by member, hostile members skipped with their reason, bounds kept."""

import io
import random
import zipfile

import pytest

from tests import archives as build
from workers.unpack import ArchiveRefused, Bounds, MemberFailed, is_archive_name, read_all, walk

SMALL = Bounds(max_members=50, max_total_bytes=8 * 1024 * 1024, max_member_bytes=4 * 1024 * 1024,
               ratio_floor_bytes=1024 * 1024, max_ratio=100)


def outcomes(path, bounds=SMALL):
    """{name: (kind, reason, bytes read)} for every member, reading each stream whole."""
    found = {}
    for member in walk(path, bounds):
        data = None
        if member.stream is not None:
            try:
                data = read_all(member, bounds.max_member_bytes)
            except MemberFailed as exc:
                member.kind, member.reason = "failed", str(exc)
        found[member.name or "(stopped)"] = (member.kind, member.reason, data)
    return found


def test_archive_names():
    assert is_archive_name("study.ZIP") and is_archive_name("a.tar.gz") and is_archive_name("a.tgz")
    assert not is_archive_name("map.nii.gz")


@pytest.mark.parametrize("writer", [build.write_zip, build.write_tar])
def test_an_spm_folder_yields_maps_pairs_and_skips_the_rest(tmp_path, writer):
    found = outcomes(writer(tmp_path / "study", build.spm_folder()))
    assert found["spm/spmT_0001.nii"][0] == "map"
    assert found["spm/con_0001.hdr"][0] == found["spm/con_0001.img"][0] == "pair"
    assert found["spm/SPM.mat"][:2] == ("skipped", "not a NIfTI map (.nii, .nii.gz) or a .hdr/.img pair")
    assert found["spm/spmT_0001.nii"][2] == build.spm_folder()["spm/spmT_0001.nii"]


def test_parent_and_absolute_names_are_skipped_and_good_members_kept(tmp_path):
    members = {"../../etc/passwd": b"root:x:0:0", "/etc/shadow": b"x", "C:/evil.nii": b"x",
               "ok/zstat1.nii.gz": build.nifti_bytes(build.small_map())}
    found = outcomes(build.write_zip(tmp_path / "a.zip", members))
    assert "outside the archive" in found["../../etc/passwd"][1]
    assert "absolute path" in found["/etc/shadow"][1] and "absolute path" in found["C:/evil.nii"][1]
    assert found["ok/zstat1.nii.gz"][0] == "map"


def test_symlinks_hard_links_and_devices_are_never_opened(tmp_path):
    zipped = build.write_zip(tmp_path / "a.zip", {"good.nii.gz": build.nifti_bytes(build.small_map())})
    build.add_zip_symlink(zipped, "link.nii", "/etc/passwd")
    found = outcomes(zipped)
    assert found["link.nii"][0] == "skipped" and "symbolic link" in found["link.nii"][1]
    assert found["good.nii.gz"][0] == "map"
    tarred = outcomes(build.add_tar_links(tmp_path / "a.tar", {"good.nii.gz": b"x"}))
    assert {tarred[name][0] for name in ("link.nii", "hard.nii", "dev.nii")} == {"skipped"}
    assert "device" in tarred["dev.nii"][1]


def test_a_nested_archive_is_not_entered(tmp_path):
    inner = build.write_zip(tmp_path / "inner.zip", {"x.nii": b"x"}).read_bytes()
    found = outcomes(build.write_zip(tmp_path / "outer.zip", {"inner.zip": inner, "deep.tar.gz": b"x"}))
    assert "archive inside the archive" in found["inner.zip"][1]
    assert found["deep.tar.gz"][0] == "skipped"


def test_a_zip_bomb_member_is_refused_by_its_ratio_before_reading(tmp_path):
    good = {"good.nii.gz": build.nifti_bytes(build.small_map())}
    found = outcomes(build.write_zip_bomb(tmp_path / "bomb.zip", 3 * 1024 * 1024, good))
    assert found["bomb.nii"][0] == "skipped" and "zip bomb" in found["bomb.nii"][1]
    assert found["good.nii.gz"][0] == "map"


def test_a_zip_bomb_past_the_total_is_cut_while_reading(tmp_path):
    bounds = Bounds(max_members=50, max_total_bytes=2 * 1024 * 1024, max_member_bytes=8 * 1024 * 1024,
                    max_ratio=10_000)
    found = outcomes(build.write_zip_bomb(tmp_path / "bomb.zip", 3 * 1024 * 1024), bounds)
    assert found["bomb.nii"][0] == "failed" and "zip bomb" in found["bomb.nii"][1]


def test_a_gzipped_tar_bomb_is_cut_by_the_ratio(tmp_path):
    found = outcomes(build.write_tar(tmp_path / "bomb.tgz", {"bomb.nii": bytes(3 * 1024 * 1024)}))
    assert found["bomb.nii"][0] == "failed" and "zip bomb" in found["bomb.nii"][1]


def test_ten_thousand_empty_members_stop_at_the_member_count(tmp_path):
    members = {f"empty{i}.txt": b"" for i in range(10_000)}
    path = build.write_zip(tmp_path / "many.zip", members, compression=zipfile.ZIP_STORED)
    found = outcomes(path)
    assert len(found) == SMALL.max_members + 1
    assert "more than 50 members" in found["(stopped)"][1]


def test_a_truncated_tar_keeps_what_came_before(tmp_path):
    members = {"a.nii.gz": build.nifti_bytes(build.small_map(1)),
               "b.nii": build.nifti_bytes(build.small_map(2), gz=False)}
    path = build.write_tar(tmp_path / "t.tar", members, mode="w")
    first = 512 + -(-len(members["a.nii.gz"]) // 512) * 512
    path.write_bytes(path.read_bytes()[: first + 512 + 1000])
    found = outcomes(path)
    assert found["a.nii.gz"][0] == "map"
    assert found["b.nii"][0] == "failed" and "cut short" in found["b.nii"][1]


def cut_inside(path, member_name, keep=100):
    """Cut a zip ``keep`` bytes into the data of one member (its index, at the end, is lost with the rest)."""
    data = path.read_bytes()
    start = data.index(member_name.encode()) + len(member_name)
    path.write_bytes(data[:start + keep])
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_a_truncated_zip_keeps_the_members_before_the_cut(tmp_path, compression):
    members = build.spm_folder()
    path = cut_inside(build.write_zip(tmp_path / "t.zip", members, compression), "spm/spmT_0001.nii")
    found = outcomes(path)
    assert found["spm/con_0001.hdr"] == ("pair", None, members["spm/con_0001.hdr"])
    assert found["spm/con_0001.img"] == ("pair", None, members["spm/con_0001.img"])
    assert found["spm/spmT_0001.nii"][0] == "failed" and "cut short" in found["spm/spmT_0001.nii"][1]
    assert "spm/SPM.mat" not in found
    assert "truncated or damaged" in found["(stopped)"][1] and "member 3" in found["(stopped)"][1]


def streamed_zip(path, members):
    """A zip written to a pipe, as streaming tools write one: sizes and CRCs in data descriptors after each member."""

    class Pipe(io.RawIOBase):
        def __init__(self):
            self.parts = []

        def writable(self):
            return True

        def write(self, data):
            self.parts.append(bytes(data))
            return len(data)

    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            with archive.open(name, "w") as member:
                member.write(data)
    path.write_bytes(b"".join(pipe.parts))
    return path


def test_a_truncated_streamed_zip_finds_each_members_end_by_inflating(tmp_path):
    members = {"notes.txt": b"not a map " * 500, "a.nii": build.nifti_bytes(build.small_map(1), gz=False),
               "b.nii": build.nifti_bytes(build.small_map(2), gz=False)}
    path = cut_inside(streamed_zip(tmp_path / "s.zip", members), "b.nii")
    found = outcomes(path)
    assert found["notes.txt"][0] == "skipped" and found["a.nii"] == ("map", None, members["a.nii"])
    assert found["b.nii"][0] == "failed"
    assert "(stopped)" in found


def test_a_zip_whose_index_alone_is_damaged_keeps_every_member(tmp_path):
    members = build.spm_folder()
    path = build.write_zip(tmp_path / "i.zip", members)
    data = path.read_bytes()
    index = data.index(b"PK\x01\x02")
    path.write_bytes(data[:index + 4] + b"\xff" * (len(data) - index - 4))
    found = outcomes(path)
    assert {name: found[name][2] for name in members if name != "spm/SPM.mat"} == {
        name: data for name, data in members.items() if name != "spm/SPM.mat"}
    assert found["spm/SPM.mat"][0] == "skipped"
    assert "index (its central directory) is damaged" in found["(stopped)"][1]


def test_a_member_whose_bytes_do_not_match_its_checksum_is_named(tmp_path):
    members = {"a.nii": build.nifti_bytes(build.small_map(1), gz=False)}
    path = build.write_zip(tmp_path / "c.zip", members, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    data[data.index(b"a.nii") + 400] ^= 0xFF
    path.write_bytes(bytes(data[:data.index(b"PK\x01\x02")]))
    found = outcomes(path)
    assert found["a.nii"][0] == "failed" and "checksum" in found["a.nii"][1]


def test_a_zip_cut_inside_its_first_header_is_refused_with_the_reason(tmp_path):
    path = build.write_zip(tmp_path / "t.zip", build.spm_folder())
    path.write_bytes(path.read_bytes()[:20])
    found = outcomes(path)
    assert list(found) == ["(stopped)"] and "member 1" in found["(stopped)"][1]


def test_a_file_that_is_no_archive_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"hello, not an archive" * 20)
    with pytest.raises(ArchiveRefused, match="not a zip, a tar"):
        list(walk(path, SMALL))


def test_a_large_sidecar_is_not_read(tmp_path):
    bounds = Bounds(max_sidecar_bytes=10)
    found = outcomes(build.write_zip(tmp_path / "s.zip", {"x.json": b"{" + b" " * 100 + b"}"}), bounds)
    assert "JSON sidecar of 102 bytes" in found["x.json"][1]


@pytest.mark.parametrize("make", [
    lambda path: build.write_zip(path, build.spm_folder()),
    lambda path: build.write_zip(path, build.spm_folder(), zipfile.ZIP_STORED),
    lambda path: streamed_zip(path, build.spm_folder()),
])
def test_cut_and_flipped_zips_end_in_members_and_reasons_never_in_an_error(tmp_path, make):
    source = make(tmp_path / "source.zip").read_bytes()
    flips = random.Random(7)
    for cut in range(0, len(source), 53):
        damaged = bytearray(source[:cut] if cut > 40 else source)
        damaged[flips.randrange(len(damaged))] ^= 1 + flips.randrange(255)
        for variant in (source[:cut], bytes(damaged)):
            path = tmp_path / "damaged.zip"
            path.write_bytes(variant)
            try:
                outcomes(path)
            except ArchiveRefused:
                pass


def with_method(path, name, method):
    """The zip with one member's method changed in its local header and the index (as Windows writes Deflate64)."""
    data = bytearray(path.read_bytes())
    for signature, method_at, name_at in ((b"PK\x03\x04", 8, 30), (b"PK\x01\x02", 10, 46)):
        at = data.find(signature)
        while data[at + name_at:at + name_at + len(name)] != name.encode():
            at = data.find(signature, at + 4)
        data[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("cut_index", [False, True])
def test_a_deflate64_member_is_skipped_saying_how_to_make_a_readable_zip(tmp_path, cut_index):
    members = {"a.nii": build.nifti_bytes(build.small_map(1), gz=False), "big.nii": b"x" * 100}
    path = with_method(build.write_zip(tmp_path / "w.zip", members), "big.nii", 9)
    if cut_index:
        data = path.read_bytes()
        path.write_bytes(data[:data.index(b"PK\x01\x02")])
    found = outcomes(path)
    assert found["a.nii"] == ("map", None, members["a.nii"])
    assert found["big.nii"][0] == "skipped" and "Deflate64" in found["big.nii"][1] and "zip -r" in found["big.nii"][1]
