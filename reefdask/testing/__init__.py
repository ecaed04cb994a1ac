"""Helpers for tests, notebooks and benchmarks: emulators, tiny models, calval scenes."""
