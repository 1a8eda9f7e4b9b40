"""The store's capacity: 30% of RAM by default, or what init() / `strato start` say."""
import psutil

import strato
from strato._testing import store_stats


def capacities():
    return [s["capacity"] for s in store_stats().values()]


def test_the_default_is_30_percent_of_ram(fresh_strato):
    strato.init(num_cpus=1)
    (capacity,) = capacities()
    assert abs(capacity - 0.3 * psutil.virtual_memory().total) < 0.01 * psutil.virtual_memory().total


def test_init_object_store_memory_sets_it(fresh_strato):
    strato.init(num_cpus=1, object_store_memory=200 << 20)
    assert capacities() == [200 << 20]


def test_strato_start_object_store_memory_sets_it(cli_cluster):
    address = cli_cluster.start_head(num_cpus=1, extra_args=["--object-store-memory", str(300 << 20)])
    strato.init(address=address, _temp_dir=cli_cluster.temp_dir)
    try:
        assert capacities() == [300 << 20]
    finally:
        strato.shutdown()
