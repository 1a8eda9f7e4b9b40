"""Consuming strato.data datasets, checked against pandas / numpy.

iter_batches (batch_size, batch_format, drop_last), iter_rows, take, take_all,
take_batch, count, schema, columns, to_pandas, materialize, num_blocks,
write_parquet, split(n, equal=, locality_hints=) and streaming_split, and
shards read inside actors (how a training library takes its share).
"""
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strato
import strato.data as sd

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": np.arange(1000), "b": rng.normal(size=1000)})


@pytest.fixture(scope="module")
def ds(df):
    return sd.from_pandas([df.iloc[i:i + 300] for i in range(0, 1000, 300)])


def test_iter_batches_cuts_exact_batches_across_blocks(ds, df):
    batches = list(ds.iter_batches(batch_size=128))
    assert [len(b["a"]) for b in batches] == [128] * 7 + [104]
    np.testing.assert_array_equal(np.concatenate([b["a"] for b in batches]), df.a.to_numpy())
    dropped = list(ds.iter_batches(batch_size=128, drop_last=True))
    assert len(dropped) == 7
    pandas_batches = list(ds.iter_batches(batch_size=None, batch_format="pandas"))
    assert [len(b) for b in pandas_batches] == [300, 300, 300, 100]
    pd.testing.assert_frame_equal(pd.concat(pandas_batches, ignore_index=True), df)
    arrow = next(iter(ds.iter_batches(batch_size=10, batch_format="pyarrow")))
    assert isinstance(arrow, pa.Table) and arrow.num_rows == 10
    with pytest.raises(ValueError, match="batch_format must be one of"):
        next(iter(ds.iter_batches(batch_format="torch")))


def test_take_take_all_take_batch_iter_rows(ds, df):
    assert ds.take(3) == df.iloc[:3].to_dict("records")
    assert ds.take_all() == df.to_dict("records")
    np.testing.assert_array_equal(ds.take_batch(5)["b"], df.b.to_numpy()[:5])
    assert sum(1 for _ in ds.iter_rows()) == 1000
    with pytest.raises(ValueError, match="more than 10 rows"):
        ds.take_all(limit=10)


def test_count_schema_columns_num_blocks(ds):
    lazy = ds.map_batches(lambda b: {"a": b["a"], "c": b["b"] > 0})
    assert lazy.count() == 1000
    assert lazy.columns() == ["a", "c"]
    assert str(lazy.schema().types[1]) == "bool"
    assert ds.num_blocks() == 4 and lazy.num_blocks() == 4
    assert lazy.materialize().num_blocks() == 4


def test_materialize_runs_once_and_keeps_the_blocks(tmp_path):
    marker = tmp_path / "runs"

    def note(batch):
        with open(marker, "a") as f:
            f.write("x")
        return batch

    mat = sd.range(100, override_num_blocks=4).map_batches(note).materialize()
    assert marker.read_text() == "xxxx"
    assert mat.count() == 100 and mat.sum("id") == sum(range(100))
    assert marker.read_text() == "xxxx"
    assert "num_rows=100" in repr(mat)


def test_write_parquet_round_trips(ds, df, tmp_path):
    ds.map_batches(lambda b: b.assign(c=b.a * 2), batch_format="pandas").write_parquet(str(tmp_path / "out"))
    files = sorted(os.listdir(tmp_path / "out"))
    assert len(files) == 4 and all(f.endswith(".parquet") for f in files)
    back = pd.concat([pq.read_table(tmp_path / "out" / f).to_pandas() for f in files], ignore_index=True)
    pd.testing.assert_frame_equal(back, df.assign(c=df.a * 2))
    pd.testing.assert_frame_equal(sd.read_parquet(str(tmp_path / "out")).to_pandas(), df.assign(c=df.a * 2))


def test_split_gives_contiguous_balanced_shards(ds, df):
    shards = ds.split(3)
    assert [s.count() for s in shards] == [334, 333, 333]
    pd.testing.assert_frame_equal(pd.concat([s.to_pandas() for s in shards], ignore_index=True), df)
    equal = ds.split(3, equal=True)
    assert [s.count() for s in equal] == [333, 333, 333]
    pd.testing.assert_frame_equal(pd.concat([s.to_pandas() for s in equal], ignore_index=True), df.iloc[:999])
    with pytest.raises(ValueError, match="one actor per split"):
        ds.split(2, locality_hints=[1])


@strato.remote(num_cpus=0)
class Trainer:
    def shard_sum(self, shard):
        frame = shard.to_pandas()
        table = pa.concat_tables(strato.get(shard.to_arrow_refs()))
        assert table.num_rows == len(frame)
        return len(frame), float(frame.b.sum())

    def consume(self, it, epochs):
        out = []
        for _ in range(epochs):
            out.append(np.concatenate([b["a"] for b in it.iter_batches(batch_size=50)]).tolist())
        return out


def test_actors_read_their_shards_with_locality_hints(ds, df):
    actors = [Trainer.remote() for _ in range(2)]
    shards = ds.split(2, equal=True, locality_hints=actors)
    results = strato.get([a.shard_sum.remote(s) for a, s in zip(actors, shards)])
    assert [n for n, _ in results] == [500, 500]
    assert sum(s for _, s in results) == pytest.approx(df.b.sum())


def test_streaming_split_feeds_actors_from_one_execution_for_two_epochs(df):
    ds = sd.range(1000, override_num_blocks=10).map_batches(lambda b: {"a": b["id"]})
    its = ds.streaming_split(2)
    actors = [Trainer.remote() for _ in range(2)]
    runs = strato.get([a.consume.remote(it, 2) for a, it in zip(actors, its)])
    for epoch in range(2):
        seen = sorted(runs[0][epoch] + runs[1][epoch])
        assert seen == list(range(1000))
    equal = sd.range(1000, override_num_blocks=3).map_batches(lambda b: {"a": b["id"]}).streaming_split(
        2, equal=True)
    runs = strato.get([a.consume.remote(it, 1) for a, it in zip(actors, equal)])
    assert [len(r[0]) for r in runs] == [500, 500]
    assert sorted(runs[0][0] + runs[1][0]) == list(range(1000))
