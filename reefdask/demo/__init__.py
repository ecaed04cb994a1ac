"""The embedded demo: the whole pipeline on synthetic quads, on a LocalCluster and local disk."""

from reefdask.demo.run import DemoResult, run_demo, write_index

__all__ = ["DemoResult", "run_demo", "write_index"]
