"""neurodrop's benchmarks: every figure a ratio against a floor measured in the same run.

``python -m bench`` runs every figure and prints one table; ``python -m bench
processing latency`` runs some. ``BENCH_QUICK=1`` makes each figure small
and fast (a smoke run: the numbers then mean little). The machines this runs
on are shared and noisy, so each measurement is repeated, floor and subject
interleaved, and the medians are compared.
"""
