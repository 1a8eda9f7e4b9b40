"""The first demo: an embedded cluster, 1,000 tasks, the result and the timing."""
import sys
import time

t0 = time.perf_counter()
import strato  # noqa: E402


@strato.remote
def square(x):
    return x * x


def main() -> int:
    strato.init(num_cpus=2)
    t_init = time.perf_counter()
    first = strato.get(square.remote(3))
    t_first = time.perf_counter()
    refs = [square.remote(i) for i in range(1000)]
    total = sum(strato.get(refs))
    t_done = time.perf_counter()
    print(f"cluster: {strato.cluster_resources().get('CPU', 0):g} CPUs, nodes: {len(strato.nodes())}")
    print(f"first result {first} after {t_first - t0:.2f} s (import + cluster start {t_init - t0:.2f} s)")
    print(f"sum of squares 0..999 = {total} (expected {sum(i * i for i in range(1000))})")
    print(f"1,000 tasks in {t_done - t_first:.3f} s ({1000 / (t_done - t_first):,.0f} tasks/s)")
    strato.shutdown()
    return 0 if total == sum(i * i for i in range(1000)) else 1


if __name__ == "__main__":
    sys.exit(main())
