"""bench.series_levers: each measurement runs on a small series and says what it measured."""

from pathlib import Path

from bench import series, series_levers


def test_each_lever_measures_the_small_series(tmp_path):
    gz = series.write_series(tmp_path / "s.nii.gz", 6)
    plain = series.write_series(tmp_path / "s.nii", 6)
    for kind in ("isal", "zlib_ng", "zinflate"):
        measured = series_levers.run_child(kind, str(gz))
        assert measured["cpu"] > 0 and measured["rss"] > 0, kind
    for path in (gz, plain):
        measured = series_levers.run_child("threads", str(path))
        assert measured["reader"] > 0, "the reader thread ran (forced on) and its CPU was read"
        assert 0 < measured["pass_stream"] < measured["pass_thread"]
    fused = series_levers.run_child("fused", str(plain))
    assert fused["numpy_ms"] > 0
    ring = series_levers.run_child("ring-2", str(gz))
    assert ring["wall"] > 0 and ring["reader_wait_early"] >= 0 and ring["pass_wait_early"] > 0


def test_a_lever_that_fails_is_left_out(tmp_path):
    """rapidgzip and numba are not dependencies: a child that cannot import one gives no line, not an error."""
    gz = series.write_series(tmp_path / "s.nii.gz", 2)
    assert series_levers.run_child("no-such-inflater", str(Path(gz))) is None
