"""Benchmarks: each ``bench_<topic>`` measures side by side against a baseline.

Run one with ``python -m benchmarks.bench_<topic>``.
"""
