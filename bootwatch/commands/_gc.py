"""Garbage-collector settings for the commands that stream records (`collect`, `parse`).

Their hot path allocates about twenty containers per record (document dicts, tuples) that die young
and make no reference cycles worth chasing that often: collecting the youngest generation every 700
allocations (Python's default) cost a fifth of the collector's CPU, and each collection walks
objects that are no longer in the CPU's cache.
"""

from __future__ import annotations

import gc

GC_YOUNG_THRESHOLD = 100_000


def tune_for_streaming() -> None:
    """Call once start-up is done: everything loaded so far (modules, rules, config) lives as long
    as the process, so it is frozen out of every later collection, and young collections are rarer."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
