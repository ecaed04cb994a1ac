"""Foundation commands: ``synth``, ``ingest``, ``demo``."""

from __future__ import annotations

from reefdask.cli import app

__all__: list[str] = []
del app
