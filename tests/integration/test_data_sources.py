"""strato.data's sources, each checked against pandas / numpy / pyarrow reading the same data.

range, from_items, from_numpy (column "data"), from_pandas, from_arrow,
read_parquet (files, directories, row groups, columns=) and read_csv.
"""
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strato.data as sd

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


def frame(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"k": rng.integers(0, 7, n), "x": rng.normal(size=n),
                         "s": [f"r{i}" for i in range(n)]})


def test_range_is_numpy_arange_in_blocks():
    ds = sd.range(1003, override_num_blocks=5)
    assert ds.num_blocks() == 5
    assert ds.count() == 1003
    assert ds.columns() == ["id"]
    np.testing.assert_array_equal(ds.to_pandas()["id"].to_numpy(), np.arange(1003))
    assert ds.materialize().num_blocks() == 5


def test_from_items_dicts_and_plain_items():
    items = [{"a": i, "b": str(i)} for i in range(50)]
    ds = sd.from_items(items)
    pd.testing.assert_frame_equal(ds.to_pandas(), pd.DataFrame(items))
    assert sd.from_items([3, 1, 2]).take_all() == [{"item": 3}, {"item": 1}, {"item": 2}]


def test_from_numpy_puts_rows_in_a_data_column_keeping_shapes():
    images = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    ds = sd.from_numpy(images)
    assert ds.columns() == ["data"]
    batch = ds.take_batch(4)
    np.testing.assert_array_equal(batch["data"], images)
    assert batch["data"].dtype == np.float32
    ds2 = sd.from_numpy([np.arange(5), np.arange(5, 8)])
    assert ds2.num_blocks() == 2
    np.testing.assert_array_equal(ds2.to_pandas()["data"].to_numpy(), np.arange(8))


def test_from_pandas_and_from_arrow_round_trip():
    df = frame(300)
    out = sd.from_pandas([df.iloc[:100], df.iloc[100:]]).to_pandas()
    pd.testing.assert_frame_equal(out, df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    ds = sd.from_arrow(table)
    assert ds.schema().base_schema.equals(table.schema)
    pd.testing.assert_frame_equal(ds.to_pandas(), df)


def test_read_parquet_files_directories_row_groups_and_columns(tmp_path):
    df = frame(2000)
    (tmp_path / "sub").mkdir()
    pq.write_table(pa.Table.from_pandas(df.iloc[:1200], preserve_index=False), tmp_path / "a.parquet",
                   row_group_size=300)
    pq.write_table(pa.Table.from_pandas(df.iloc[1200:], preserve_index=False), tmp_path / "sub" / "b.parquet",
                   row_group_size=300)
    whole = sd.read_parquet(str(tmp_path))
    assert whole.count() == 2000                      # from the footers
    pd.testing.assert_frame_equal(whole.to_pandas(), df)
    one = sd.read_parquet(str(tmp_path / "a.parquet"), columns=["x", "k"])
    assert one.columns() == ["x", "k"]
    pd.testing.assert_frame_equal(one.to_pandas(), df.iloc[:1200][["x", "k"]])
    listed = sd.read_parquet([str(tmp_path / "sub" / "b.parquet"), str(tmp_path / "a.parquet")])
    pd.testing.assert_frame_equal(listed.to_pandas(),
                                  pd.concat([df.iloc[1200:], df.iloc[:1200]], ignore_index=True))


def test_read_parquet_splits_a_large_file_by_row_groups(tmp_path, monkeypatch):
    from strato.data import datasource
    df = frame(1000)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "f.parquet", row_group_size=100)
    monkeypatch.setattr(datasource, "TARGET_BLOCK_BYTES", 1)      # one task per row group
    ds = sd.read_parquet(str(tmp_path / "f.parquet"))
    assert ds.num_blocks() == 10
    mat = ds.materialize()
    assert [m.num_rows for _, m in mat._source.blocks] == [100] * 10
    pd.testing.assert_frame_equal(mat.to_pandas(), df)
    monkeypatch.undo()
    assert sd.read_parquet(str(tmp_path / "f.parquet")).num_blocks() == 1
    halves = sd.read_parquet(str(tmp_path / "f.parquet"), override_num_blocks=5)
    assert halves.num_blocks() == 5
    pd.testing.assert_frame_equal(halves.to_pandas(), df)


def test_read_csv_matches_pandas(tmp_path):
    df = frame(500)
    df.iloc[:200].to_csv(tmp_path / "a.csv", index=False)
    df.iloc[200:].to_csv(tmp_path / "b.csv", index=False)
    ds = sd.read_csv(str(tmp_path))
    assert ds.num_blocks() == 2
    expected = pd.concat([pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")], ignore_index=True)
    pd.testing.assert_frame_equal(ds.to_pandas(), expected)


def test_bad_sources_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        sd.read_parquet(str(tmp_path / "missing.parquet"))
    with pytest.raises(FileNotFoundError, match="no .*parquet"):
        sd.read_parquet(str(tmp_path))
    pq.write_table(pa.table({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(ValueError, match=r"columns \['b'\] are not in"):
        sd.read_parquet(str(tmp_path), columns=["b"])
    with pytest.raises(ValueError, match="range"):
        sd.range(-1)
    with pytest.raises(TypeError, match="from_pandas takes a DataFrame"):
        sd.from_pandas([1, 2])
