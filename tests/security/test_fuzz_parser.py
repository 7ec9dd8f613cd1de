"""Fuzzing workers/nifti.py as an attacker would: hostile values in every header field, corrupted
gzip streams, and files cut anywhere. Whatever arrives, the parser returns a report or raises
``InvalidNifti`` (never an internal error), allocates no more than its caps allow, and answers
within a time bound.

``tests/unit/test_nifti.py`` flips single bytes of real headers; this adds structured values
(sizes near the integer limits, NaN/inf scalings, offsets past the end), mutations of the
compressed bytes themselves, and the allocation bound. ``make test`` runs ``FUZZ_EXAMPLES``
(default 100) cases per property; ``make fuzz`` runs thousands.
"""

import gzip
import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import niftigen as gen
from workers.nifti import InvalidNifti, inspect, inspect_and_load, open_series

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
MAX_DECOMPRESSED = 2**20
MAX_ARRAY = 2**22
#: What one read may allocate at its peak: the array cap, the decompressed data it is read from,
#: and interpreter overhead. A parser that trusted a header's sizes would blow far past this.
ALLOCATION_BOUND = MAX_ARRAY + 2 * MAX_DECOMPRESSED + 8 * 2**20
#: Per case: generous for a noisy 2-core machine, far below what a hang or a real allocation would take.
DEADLINE_MS = 5000

FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=DEADLINE_MS, derandomize=FUZZ_EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

INT16 = st.integers(-(2**15), 2**15 - 1)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0, -1.0, 1e30]))
HEADER_VALUES = {
    "dim": st.lists(INT16, min_size=8, max_size=8),
    "datatype": st.one_of(st.sampled_from([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 2304]),
                          INT16),
    "bitpix": st.one_of(st.sampled_from([0, 1, 8, 16, 32, 64, 128, 256]), INT16),
    "vox_offset": st.one_of(FLOATS, st.sampled_from([352.0, 351.0, 2.0**31, -352.0])),
    "scl_slope": FLOATS,
    "scl_inter": FLOATS,
    "pixdim": st.lists(FLOATS, min_size=8, max_size=8),
    "qform_code": INT16,
    "sform_code": INT16,
    "quatern_b": FLOATS,
    "srow_x": st.lists(FLOATS, min_size=4, max_size=4),
    "xyzt_units": st.integers(0, 255),
    "intent_code": INT16,
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-sources")
    return {
        "plain": gen.small_map(folder / "plain.nii", shape=(6, 5, 4)),
        "gzip": gen.small_map(folder / "gz.nii.gz", shape=(6, 5, 4)),
        "4d": gen.make_nifti(folder / "four.nii.gz", np.ones((4, 3, 2, 3), dtype=np.int16)),
    }


def read_series(path):
    with open_series(path, max_decompressed_bytes=MAX_DECOMPRESSED, max_array_bytes=MAX_ARRAY) as series:
        for _volume in series.volumes():
            pass
        return series.finish()


def read_within_bounds(path):
    """Every entry point on ``path``: each returns or raises InvalidNifti, within the allocation bound."""
    for read in (lambda: inspect(path, max_decompressed_bytes=MAX_DECOMPRESSED),
                 lambda: inspect_and_load(path, max_decompressed_bytes=MAX_DECOMPRESSED, max_array_bytes=MAX_ARRAY),
                 lambda: read_series(path)):
        tracemalloc.start()
        try:
            read()
        except InvalidNifti as exc:
            assert not exc.internal, f"internal error escaped as InvalidNifti: {exc}"
            assert exc.field and str(exc)
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak <= ALLOCATION_BOUND, f"peak allocation {peak:,} bytes"


@FUZZ
@given(source=st.sampled_from(["plain", "gzip", "4d"]),
       fields=st.dictionaries(st.sampled_from(sorted(HEADER_VALUES)), st.just(None), min_size=1, max_size=5),
       data=st.data())
def test_fuzz_hostile_header_values(sources, tmp_path_factory, source, fields, data):
    values = {name: data.draw(HEADER_VALUES[name], label=name) for name in fields}
    target = tmp_path_factory.getbasetemp() / f"fields-{source}{''.join(sources[source].suffixes)}"
    with np.errstate(all="ignore"):
        gen.set_header_fields(sources[source], target, **values)
    read_within_bounds(target)


@FUZZ
@given(source=st.sampled_from(["gzip", "4d"]),
       changes=st.dictionaries(st.integers(0, 400), st.integers(0, 255), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 400)))
def test_fuzz_corrupted_gzip_streams(sources, tmp_path_factory, source, changes, cut):
    """Flip bytes of the compressed file itself: the gzip header, the deflate stream, the CRC trailer."""
    stored = bytearray(sources[source].read_bytes())
    for offset, value in changes.items():
        stored[offset % len(stored)] = value
    target = tmp_path_factory.getbasetemp() / "corrupt.nii.gz"
    target.write_bytes(bytes(stored[:cut] if cut is not None else stored))
    read_within_bounds(target)


@FUZZ
@given(claimed=st.tuples(st.integers(1, 2**15 - 1), st.integers(1, 2**15 - 1), st.integers(1, 2**15 - 1)),
       datatype=st.sampled_from([2, 4, 8, 16, 64]),
       members=st.integers(1, 3))
def test_fuzz_headers_claiming_huge_data_over_small_or_concatenated_gzip(tmp_path_factory, claimed, datatype,
                                                                         members):
    """A header that claims more than the file holds, in one or several gzip members."""
    source = gen.small_map(tmp_path_factory.getbasetemp() / "claim.nii", shape=(4, 4, 4))
    with np.errstate(all="ignore"):
        payload = gen._with_fields(gen.read_raw(source), dim=[3, *claimed, 1, 1, 1, 1], datatype=datatype)
    target = tmp_path_factory.getbasetemp() / "claim.nii.gz"
    step = max(1, len(payload) // members)
    target.write_bytes(b"".join(gzip.compress(payload[i:i + step]) for i in range(0, len(payload), step)))
    read_within_bounds(target)


def test_a_gzip_bomb_stops_at_the_cap_without_allocating_it(tmp_path):
    bomb = gen.gzip_bomb(tmp_path / "bomb.nii.gz", zero_bytes=16 * 2**20)
    with pytest.raises(InvalidNifti) as refused:
        inspect_and_load(bomb, max_decompressed_bytes=MAX_DECOMPRESSED, max_array_bytes=MAX_ARRAY)
    assert not refused.value.internal
    read_within_bounds(bomb)
