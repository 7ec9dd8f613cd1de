"""The index files: appends seen by other processes' views, reprocessed maps, rebuilds, torn writes."""

import numpy as np

from webapp.similarity.index import FeedRow, VectorIndex
from workers import similarity


def vectors(count, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, similarity.n_mask_voxels())).astype(np.float16)


def test_a_second_view_sees_appended_rows_and_the_latest_row_of_an_image(tmp_path):
    writer, reader = VectorIndex(tmp_path), VectorIndex(tmp_path)
    data = vectors(3)
    writer.append_many(data[:2], np.array([[1, 10], [2, 11]]))
    assert reader.refresh() and len(reader) == 2 and reader.n_live == 2
    writer.append(3, 10, data[2])
    reader.refresh()
    assert reader.n_live == 2 and reader.row_of(10) == 2
    ranked = reader.ranked_images(data[2].astype(np.float32), pool=10)
    assert list(ranked.rows) == [10, 11] and ranked.r[0] > 0.999
    assert np.array_equal(reader.vector_of(11), data[1])
    assert not reader.refresh()


def test_catch_up_reads_the_feed_and_keeps_missing_vectors_as_placeholders(tmp_path):
    index = VectorIndex(tmp_path)
    data = vectors(2)
    stored = {"a": similarity.vector_bytes(data[0]), "b": None}
    feed = [FeedRow(5, 1, "a"), FeedRow(9, 2, "b")]
    added = index.catch_up(lambda last: [row for row in feed if row.feed_id > last], stored.get)
    assert added == 2 and index.last_feed_id == 9 and index.n_live == 1 and index.row_of(2) is None


def test_rebuild_by_another_process_is_noticed_and_torn_writes_are_cut(tmp_path):
    first, second = VectorIndex(tmp_path), VectorIndex(tmp_path)
    data = vectors(4, seed=1)
    first.append_many(data[:3], np.array([[1, 1], [2, 2], [3, 3]]))
    second.refresh()
    first.wipe()
    first.append_many(data[1:], np.array([[4, 2], [5, 3], [6, 4]]))
    second.refresh()
    assert second.row_of(1) is None and second.row_of(4) == 2
    with open(first.path("vectors.f16"), "ab") as handle:
        handle.write(b"\0" * 1000)
    first.append(7, 5, data[0])
    second.refresh()
    assert np.array_equal(second.vector_of(5), data[0])
