"""strato.data's transforms, each checked against pandas / numpy computing the same thing.

map_batches in the numpy, pandas and pyarrow formats (tasks, and an actor pool
for a callable class), map, flat_map, filter, select/drop columns, repartition,
random_shuffle, limit and groupby().count()/sum()/mean()/min()/max() with Ray's
column names; a user function's error arrives as the user's exception type.
"""
import logging
import os
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import strato
import strato.data as sd

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


def frame(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"k": rng.integers(0, 5, n), "g": rng.integers(0, 2, n), "x": rng.normal(size=n),
                         "y": rng.integers(-50, 50, n)})


@pytest.fixture(scope="module")
def df():
    return frame()


@pytest.fixture(scope="module")
def ds(df):
    return sd.from_pandas([df.iloc[i:i + 250] for i in range(0, len(df), 250)])


def test_map_batches_numpy_pandas_and_pyarrow_formats(ds, df):
    expected = df.assign(z=df.x * 2 + df.y)
    out_np = ds.map_batches(lambda b: {**b, "z": b["x"] * 2 + b["y"]}, batch_format="numpy", batch_size=64)
    pd.testing.assert_frame_equal(out_np.to_pandas(), expected)
    out_pd = ds.map_batches(lambda b: b.assign(z=b.x * 2 + b.y), batch_format="pandas")
    pd.testing.assert_frame_equal(out_pd.to_pandas(), expected)

    def arrow(t):
        assert isinstance(t, pa.Table)
        return t.append_column("z", pc.add(pc.multiply(t["x"], 2), t["y"]))
    pd.testing.assert_frame_equal(ds.map_batches(arrow, batch_format="pyarrow").to_pandas(), expected)


def test_map_batches_passes_fn_args_and_batches_of_batch_size(ds):
    sizes = ds.map_batches(lambda b, plus: {"n": np.array([len(b["x"]) + plus])}, batch_size=100,
                           fn_args=(1000,)).to_pandas()["n"].tolist()
    assert sizes == [1100, 1100, 1050] * 4        # 250-row blocks, batches never span blocks


class AddConstant:
    def __init__(self, c):
        self.c = c
        self.pid = os.getpid()

    def __call__(self, batch):
        return batch.assign(x=batch.x + self.c, pid=self.pid)


def test_map_batches_with_a_callable_class_runs_on_an_actor_pool_without_deadlock(df, caplog):
    # 2 CPUs: read tasks need one, so the pool of 2 must shrink to 1 instead of waiting forever
    src = sd.range(len(df), override_num_blocks=8).map_batches(
        lambda b: df.iloc[b["id"][0]:b["id"][-1] + 1].reset_index(drop=True), batch_format="numpy")
    with caplog.at_level(logging.WARNING, logger="strato.data.executor"):
        out = src.map_batches(AddConstant, fn_constructor_args=(10.0,), concurrency=2,
                              batch_format="pandas").to_pandas()
    pd.testing.assert_frame_equal(out.drop(columns="pid"), df.assign(x=df.x + 10.0))
    assert out.pid.nunique() == 1 and out.pid.iloc[0] != os.getpid()
    assert any("starting 1 actor(s), not 2" in r.getMessage() for r in caplog.records)


class SlowAddConstant(AddConstant):
    def __call__(self, batch):
        time.sleep(0.2)
        return super().__call__(batch)


def test_actor_pool_over_blocks_in_the_store_gets_every_cpu(ds, df, caplog):
    # the input is in the store already: no read tasks, so the pool gets both actors
    with caplog.at_level(logging.WARNING, logger="strato.data.executor"):
        out = ds.repartition(8).map_batches(SlowAddConstant, fn_constructor_kwargs={"c": 1.0}, concurrency=2,
                                            batch_format="pandas").to_pandas()
    pd.testing.assert_frame_equal(out.drop(columns="pid"), df.assign(x=df.x + 1.0))
    assert not [r.getMessage() for r in caplog.records if "actor(s)" in r.getMessage()]
    assert 1 <= out.pid.nunique() <= 2       # the second may come up after the first took every block


def test_concurrency_bounds_a_functions_tasks_in_flight(overlap):
    def timed(batch):
        start = time.time()
        time.sleep(0.15)
        return {"start": [start], "end": [time.time()]}

    spans = sd.range(6, override_num_blocks=6).map_batches(timed, concurrency=1).to_pandas()
    assert len(spans) == 6
    assert overlap(zip(spans.start, spans.end)) == 1
    with pytest.raises(ValueError, match="a function runs as tasks"):
        sd.range(6).map_batches(timed, concurrency=(1, 2))


def test_a_callable_class_without_concurrency_is_a_clear_error(ds):
    with pytest.raises(ValueError, match="concurrency"):
        ds.map_batches(AddConstant)


def test_map_flat_map_and_filter_match_pandas(ds, df):
    mapped = ds.map(lambda r: {"k": r["k"], "x2": r["x"] ** 2}).to_pandas()
    pd.testing.assert_frame_equal(mapped, pd.DataFrame({"k": df.k, "x2": df.x ** 2}))
    flat = sd.range(20).flat_map(lambda r: [{"v": r["id"]}] * (r["id"] % 3)).to_pandas()
    ids = np.arange(20)
    np.testing.assert_array_equal(flat.v.to_numpy(), np.repeat(ids, ids % 3))
    kept = ds.filter(lambda r: r["y"] > 0 and r["k"] != 2).to_pandas()
    pd.testing.assert_frame_equal(kept, df[(df.y > 0) & (df.k != 2)].reset_index(drop=True))


def test_select_and_drop_columns(ds, df):
    pd.testing.assert_frame_equal(ds.select_columns(["y", "k"]).to_pandas(), df[["y", "k"]])
    pd.testing.assert_frame_equal(ds.drop_columns("x").to_pandas(), df.drop(columns="x"))


def test_repartition_keeps_order_and_evens_blocks(ds, df):
    out = ds.repartition(7).materialize()
    assert out.num_blocks() == 7
    counts = [m.num_rows for _, m in out._source.blocks]
    assert max(counts) - min(counts) <= 1 and sum(counts) == len(df)
    pd.testing.assert_frame_equal(out.to_pandas(), df)


def test_random_shuffle_permutes_rows_reproducibly(ds, df):
    a = ds.random_shuffle(seed=7).to_pandas()
    b = ds.random_shuffle(seed=7).to_pandas()
    c = ds.random_shuffle(seed=8).to_pandas()
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(df) and not a.equals(c)
    pd.testing.assert_frame_equal(a.sort_values("x").reset_index(drop=True),
                                  df.sort_values("x").reset_index(drop=True))


def test_groupby_aggregations_have_rays_names_and_pandas_values(ds, df):
    count = ds.groupby("k").count().to_pandas()
    assert list(count.columns) == ["k", "count()"]
    expected = df.groupby("k").size().reset_index(name="count()")
    pd.testing.assert_frame_equal(count, expected)

    summed = ds.groupby("k").sum(["x", "y"]).to_pandas()
    assert list(summed.columns) == ["k", "sum(x)", "sum(y)"]
    exp = df.groupby("k")[["x", "y"]].sum().reset_index()
    np.testing.assert_allclose(summed["sum(x)"], exp.x)
    np.testing.assert_array_equal(summed["sum(y)"], exp.y)

    mean = ds.groupby(["k", "g"]).mean("x").to_pandas()
    exp = df.groupby(["k", "g"]).x.mean().reset_index()
    np.testing.assert_array_equal(mean[["k", "g"]].to_numpy(), exp[["k", "g"]].to_numpy())
    np.testing.assert_allclose(mean["mean(x)"], exp.x)

    lo, hi = ds.groupby("g").min("y").to_pandas(), ds.groupby("g").max("y").to_pandas()
    np.testing.assert_array_equal(lo["min(y)"], df.groupby("g").y.min())
    np.testing.assert_array_equal(hi["max(y)"], df.groupby("g").y.max())


def test_global_aggregates_and_limit(ds, df):
    assert ds.sum("y") == df.y.sum()
    assert ds.mean("x") == pytest.approx(df.x.mean())
    assert ds.max("y") == df.y.max() and ds.min("y") == df.y.min()
    pd.testing.assert_frame_equal(ds.limit(333).to_pandas(), df.iloc[:333])
    assert ds.limit(333).count() == 333


def test_groupby_on_a_missing_column_says_which(ds):
    with pytest.raises(KeyError, match=r"no columns \['nope'\]"):
        ds.groupby("nope").count()


class MyBadInput(ValueError):
    pass


def test_a_user_error_surfaces_with_the_users_exception_type(ds):
    def broken(batch):
        raise MyBadInput("row 3 is wrong")

    with pytest.raises(MyBadInput, match="row 3 is wrong"):
        ds.map_batches(broken).materialize()
    with pytest.raises(MyBadInput):
        sd.range(10).filter(lambda r: (_ for _ in ()).throw(MyBadInput("in filter"))).take_all()

    class BadActor:
        def __call__(self, batch):
            raise MyBadInput("in an actor")
    with pytest.raises(MyBadInput, match="in an actor"):
        ds.map_batches(BadActor, concurrency=1).to_pandas()

    class BadConstructor:
        def __init__(self):
            raise MyBadInput("in a constructor")

        def __call__(self, batch):
            return batch
    with pytest.raises(MyBadInput, match="in a constructor"):
        ds.map_batches(BadConstructor, concurrency=1).to_pandas()
    # the cluster is still usable afterwards
    assert strato.get(strato.put(1)) == 1


def test_sort_add_column_rename_and_unique_match_pandas(ds, df):
    pd.testing.assert_frame_equal(ds.sort("x").to_pandas(), df.sort_values("x").reset_index(drop=True))
    by_two = ds.sort(["k", "y"], descending=True).to_pandas()
    pd.testing.assert_frame_equal(by_two, df.sort_values(["k", "y"], ascending=False).reset_index(drop=True))
    assert ds.sort("x").num_blocks() == ds.num_blocks()
    added = ds.add_column("xy", lambda b: b.x * b.y).to_pandas()
    pd.testing.assert_frame_equal(added, df.assign(xy=df.x * df.y))
    renamed = ds.rename_columns({"x": "feature"}).to_pandas()
    pd.testing.assert_frame_equal(renamed, df.rename(columns={"x": "feature"}))
    assert sorted(ds.unique("k")) == sorted(df.k.unique().tolist())
    both = ds.union(ds.filter(lambda r: r["k"] == 1))
    pd.testing.assert_frame_equal(both.to_pandas(), pd.concat([df, df[df.k == 1]], ignore_index=True))
    with pytest.raises(ValueError, match="one value per row"):
        ds.add_column("bad", lambda b: b.x[:3]).materialize()
