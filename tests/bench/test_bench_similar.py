"""Figure 6's script still runs: a tiny index built, queried in-process, recall and r checked (never a time)."""

import numpy as np

from bench import similar


def test_figure_6_builds_an_index_and_answers_exactly(tmp_path, monkeypatch):
    built = similar.build(tmp_path / "index", 300)
    np.savez(tmp_path / "truth.npz", queries=built["queries"], top=built["top"])
    monkeypatch.setattr(similar, "POOLS", (50,))
    out = similar.serve(str(tmp_path / "index"), str(tmp_path / "truth.npz"))
    assert out["rows"] == 301
    assert out["pools"]["50"]["recall"] == 1.0 and out["pools"]["50"]["max_r_error"] < 1e-3
    assert out["peak_rss"] > 0 and out["add_s"] > 0
