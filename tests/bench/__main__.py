"""``python -m tests.bench ...`` from the checkout's root: the same benchmarks as ``renewals bench ...``."""

from tests.bench.cli import bench

bench(prog_name="python -m tests.bench")
