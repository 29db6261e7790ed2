"""The Python process a service runs in, set up once by its entry points (`clusnet serve`,
`clusnet worker`) after the application is built."""

from __future__ import annotations

import gc

# Net allocations of container objects between two young collections: CPython 3.11's default is
# 700, 3.13's 2,000. A consumer's poll of 2,000 events allocates hundreds of thousands of objects
# that mostly die young by reference counting; at 700 the collector ran ~1,500 times per 10,000
# events. 10,000 saved a little more CPU but cost the API process 2 MiB at its peak (bench row 5).
YOUNG_GENERATION_THRESHOLD = 2_000
# Every young collection moves a poll's still-live objects into the middle generation, which at
# CPython's default (10) is then scanned every ten young collections: the same 2,000 events'
# objects, again and again, for the whole poll. A worker's middle threshold of 100 gave the
# evaluations consumer 7,010-7,371 events per CPU second against 6,437-6,558 (alternating runs,
# bench/README.md "Wave 6"). The API processes keep CPython's: a request's objects die young, and
# their memory is the tighter budget (bench row 5).
WORKER_MIDDLE_GENERATION_THRESHOLD = 100


def tune_garbage_collector(*, worker: bool = False) -> None:
    """Keep the cyclic garbage collector off the hot paths. `gc.freeze()` moves what exists now
    (modules, classes, pydantic and SQLAlchemy schemas: most of a service's objects, and none of
    them garbage) out of the collector's sight, so its full collections stop scanning them; the
    young generation's threshold is raised so it runs less often. Measured on the evaluations
    consumer (bench/README.md, "Wave 4"): the collector's time for 10,000 events fell from 1.0 s
    to 0.1–0.25 s, events per CPU second rose by a third. Memory: frozen objects are still freed by
    reference counting; only cycles among them would stay, and startup leaves none that matter."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, WORKER_MIDDLE_GENERATION_THRESHOLD if worker else middle, old)
    gc.freeze()
