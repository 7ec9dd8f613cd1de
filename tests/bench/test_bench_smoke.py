"""The benchmark scripts still run: figure 1 in quick mode gives well-formed rows (no time is asserted)."""

import pytest

from bench import processing
from bench.common import Row, table


@pytest.fixture
def quick_mode(monkeypatch):
    monkeypatch.setenv("BENCH_QUICK", "1")


def test_processing_quick_run_gives_rows_with_ratios(quick_mode):
    rows = processing.run()
    assert rows and all(isinstance(row, Row) for row in rows)
    compared = [row for row in rows if row.what.endswith("ours vs floor")]
    assert len(compared) == 2
    for row in compared:
        assert row.ours > 0 and row.reference > 0 and row.ratio == pytest.approx(row.ours / row.reference)
        assert row.holds is (row.ratio <= processing.FLOOR_GOAL), "the verdict follows the goal it states"
    memory = [row for row in rows if "peak RSS" in row.what]
    assert len(memory) == 2 and all(row.ours > 0 for row in memory)
    printed = table(rows)
    assert printed.count("\n") == len(rows) + 1 and "ours vs floor" in printed


def test_series_quick_run_gives_throughput_and_memory_rows(quick_mode):
    from bench import series

    rows = series.run()
    assert [row.what.split(": ")[-1] for row in rows[:4]] == ["throughput vs floor", "worker peak RSS"] * 2
    assert all(row.ours > 0 and row.reference > 0 for row in rows)
    growth = rows[-1]
    assert growth.what.startswith("peak RSS,") and growth.ratio == pytest.approx(growth.ours / growth.reference)
    assert growth.holds is True, "memory stays flat when the series doubles (a size, not a speed)"
