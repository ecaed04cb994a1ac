"""One unit of work for every stage: plan -> template -> aligned writes -> record -> resume.

Every stage (cube ingest, acquire, clean, samples, training, predict, the global map)
is a set of named units at its own granularity (scene, file, quad, sample store, run,
chunk) whose life is the same:

1. **plan**: one listing of the stage's records (:meth:`Records.scan`) says which units
   are done, skipped or failed (the status is in each record's object name);
2. **claim**: an expiring, fenced claim per unit (:class:`Claims`) keeps concurrent
   workers apart, and a crashed worker's claims expire and are taken over exactly once;
3. **do**: lay out the output (template), write aligned regions;
4. **record**: through the claim (which proves it is still held) write ONE completion
   record in the shared format: ``done``, ``skipped.<reason>`` or ``failed.<class>``
   with attempts and reasons (:class:`Records`);
5. **resume / retry**: a rerun skips done and skipped units and retries the failure
   classes it is asked to (``retry=``).

:class:`Work` joins the two under one prefix and runs the loop (:meth:`Work.run`).
Modules: :mod:`.records` (format, precedence, retry), :mod:`.claims` (claims, fencing,
expiry), :mod:`.runner` (the loop). Only the :class:`~reefdask.io.store.Store`
interface and its capabilities are used, so every backend behaves alike.

Examples
--------
>>> from reefdask.io.store import open_store
>>> store = open_store("memory://doc-work")
>>> work = Work(store, "_ingest", owner="job-1")
>>> work.run(["s1", "s2"], lambda unit: {"pixels": 42}).done
['s1', 's2']
>>> sorted(store.list("_ingest/"))
['_ingest/s1.done.json', '_ingest/s2.done.json']
>>> work.records.scan().counts()
{'done': 2, 'skipped': 0, 'failed': 0}
>>> work.run(["s1", "s2", "s3"], lambda unit: None).already        # resume
['s1', 's2']

A stage that computes many units in one graph uses the parts:

>>> plan = work.plan(["s3", "s4"])
>>> claim = work.claim("s4")                       # a Claim, or "held" / "already"
>>> work.record(claim, {"pixels": 7}, plan.listing)
'done'
>>> work.finish(claim, "done")
"""

from reefdask.work.claims import CLAIMS_DIR, Claim, ClaimLostError, Claims, Fence, keep
from reefdask.work.records import (
    DEFAULT_RETRY,
    FAILURES,
    SKIP_REASONS,
    STATUSES,
    Entry,
    Listing,
    Record,
    Records,
)
from reefdask.work.runner import Plan, RunReport, Skip, Work, classify

__all__ = [
    "CLAIMS_DIR",
    "DEFAULT_RETRY",
    "FAILURES",
    "SKIP_REASONS",
    "STATUSES",
    "Claim",
    "ClaimLostError",
    "Claims",
    "Entry",
    "Fence",
    "Listing",
    "Plan",
    "Record",
    "Records",
    "RunReport",
    "Skip",
    "Work",
    "classify",
    "keep",
]
