"""``reefdask acquire``: list a manifest's sources, then copy what is missing, in parallel.

The listing is one call per source (a ``glob`` that also returns sizes and, on GCS,
checksums); explicit URLs are looked up inside their copy task. The copies run as Dask
tasks (threads by default: the work is I/O; pass a ``distributed.Client`` to run them on
a cluster), each a :func:`reefdask.acquire.copy.copy_one`. A rich progress bar shows
the count; the :class:`AcquireReport` gives the final account.

Files whose local copy carries a verification record matching the listing's size and
checksum are skipped before any task is made, so a rerun on a complete destination
costs one listing plus two small local reads per file.

A killed run leaves only temporary ``.part-`` files, never a partial file under its
final name; rerun, it skips every file already complete (checked by size and checksum),
removes the dead run's temporary files and copies the rest.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from reefdask.acquire.checksum import remote_checksum
from reefdask.acquire.copy import CopyItem, Outcome, copy_one, quick_skip
from reefdask.acquire.manifest import Manifest, Source
from reefdask.io.storage import filesystem, is_local_fs, join

__all__ = ["AcquireReport", "plan_copies", "acquire"]


@dataclass
class AcquireReport:
    """The account of one run: copied, skipped and failed files (with reasons)."""

    outcomes: list[Outcome] = field(default_factory=list)
    empty_sources: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def _of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def copied(self) -> list[Outcome]:
        """Items copied in this run."""
        return self._of("copied")

    @property
    def skipped(self) -> list[Outcome]:
        """Items already up to date."""
        return self._of("skipped")

    @property
    def failed(self) -> list[Outcome]:
        """Items that could not be copied, each with its reason."""
        return self._of("failed")

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly account (``reefdask acquire --json``)."""
        return {
            "copied": len(self.copied),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "bytes_copied": sum(o.nbytes for o in self.copied),
            "seconds": round(self.seconds, 3),
            "empty_sources": self.empty_sources,
            "failures": [{"source": o.item.source, "reason": o.reason} for o in self.failed],
            "files": [o.to_dict() for o in self.outcomes],
        }

    def summary(self) -> str:
        """A short human account."""
        mb = sum(o.nbytes for o in self.copied) / 1e6
        lines = [
            f"acquire: copied {len(self.copied)} ({mb:.1f} MB), skipped {len(self.skipped)} "
            f"(up to date), failed {len(self.failed)} in {self.seconds:.1f} s"
        ]
        lines += [f"  failed {o.item.source}: {o.reason}" for o in self.failed]
        lines += [f"  source {name!r} matched no files" for name in self.empty_sources]
        return "\n".join(lines)


def _url(fs: Any, path: str) -> str:
    """A listed path as a URL again (a plain path for local files)."""
    return path if is_local_fs(fs) else str(fs.unstrip_protocol(path))


def _list_source(src: Source, destination: str) -> list[CopyItem]:
    base = join(destination, src.dest_folder)
    if src.urls:
        return [
            CopyItem(
                source=u,
                dest=join(base, posixpath.basename(u.split("?", 1)[0])),
                source_name=src.name,
                kind=src.kind,
                storage_options=src.storage_options,
            )
            for u in src.urls
            if src.filters.accepts(posixpath.basename(u.split("?", 1)[0]), "")
        ]
    assert src.url is not None
    fs, root = filesystem(src.url, src.storage_options)
    root = root.rstrip("/")
    fs.invalidate_cache(root)  # a listing cached by an earlier run in this process may be stale
    found = fs.glob(posixpath.join(root, src.pattern), detail=True)
    items = []
    for path, info in sorted(found.items()):
        if info.get("type", "file") != "file":
            continue
        rel = posixpath.relpath(path, root)
        region = posixpath.dirname(rel)
        if not src.filters.accepts(posixpath.basename(rel), region):
            continue
        checksum = remote_checksum(info)  # None for local sources: hashed on both sides in the task
        items.append(
            CopyItem(
                source=_url(fs, path),
                dest=join(base, rel),
                source_name=src.name,
                kind=src.kind,
                region=region,
                size=None if is_local_fs(fs) else info.get("size"),
                checksum=checksum,
                storage_options=src.storage_options,
            )
        )
    return items


def plan_copies(manifest: Manifest) -> tuple[list[CopyItem], list[str]]:
    """Every file the manifest names, and the names of sources that matched nothing."""
    items: list[CopyItem] = []
    empty = []
    for src in manifest.sources:
        found = _list_source(src, manifest.destination)
        if not found:
            empty.append(src.name)
        items.extend(found)
    return items, empty


def acquire(manifest: Manifest, *, progress: bool = True, client: Any = None) -> AcquireReport:
    """Copy what is missing or changed; returns the account (never raises for one bad file)."""
    import dask
    from dask.callbacks import Callback
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    t0 = time.perf_counter()
    items, empty = plan_copies(manifest)
    opts = {
        "retries": manifest.retries,
        "backoff": manifest.backoff,
        "verify_rasters": manifest.verify_rasters,
        "trust_cache": manifest.trust_cache,
        "fsync": manifest.fsync,
    }
    done = [o for o in map(quick_skip, items) if o is not None] if manifest.trust_cache else []
    seen = {o.item.dest for o in done}
    todo = [item for item in items if item.dest not in seen]
    tasks = [
        dask.delayed(copy_one, pure=False)(
            item, dask_key_name=f"acquire-{i}-{posixpath.basename(item.dest)}", **opts
        )
        for i, item in enumerate(todo)
    ]
    bar = Progress(
        TextColumn("acquire"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), disable=not progress
    )

    class _Advance(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
            if isinstance(result, Outcome):
                bar.advance(task_id, 1)

    with bar:
        task_id = bar.add_task("acquire", total=len(items), completed=len(done))
        if client is not None:
            futures = client.compute(tasks)
            outcomes = []
            for fut in futures:
                outcomes.append(fut.result())
                bar.advance(task_id, 1)
        elif tasks:
            with _Advance():
                outcomes = list(dask.compute(*tasks, scheduler="threads", num_workers=manifest.workers))
        else:
            outcomes = []
    order = {item.dest: i for i, item in enumerate(items)}
    every = sorted([*done, *outcomes], key=lambda o: order[o.item.dest])
    return AcquireReport(outcomes=every, empty_sources=empty, seconds=time.perf_counter() - t0)
