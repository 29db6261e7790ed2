"""The fault harness, short version: the whole system as real processes under a steady load,
each fault injected once at a random moment, then the auditor. Nothing lost, nothing applied
twice, no 5xx but the 503s while PostgreSQL is away and the writes refused while the consumers
downstream are behind, every fault recovered (within the harness's RECOVERY_TIMEOUT_S).
How fast is a target, not a test: the long version (`make chaos`) writes its table, recovery times
against the target (harness.RECOVERY_TARGET_S), to docs/reliability.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import RECOVERY_TIMEOUT_S, run_harness

pytestmark = pytest.mark.services


async def test_short_fault_run_loses_nothing_and_recovers(tmp_path: Path) -> None:
    harness, table = await run_harness(tmp_path, minutes=None, receiver_down_s=10.0, outage_s=5.0, seed=11, rate=3.0)
    print(table)
    run = harness.run
    assert run.audit is not None
    assert len(run.injections) == len(harness.faults), "each fault once"
    assert run.operations > 50, "the load ran"
    assert run.expected_503 > 0, "the PostgreSQL outage was seen by the load"
    assert run.audit.lost == [], [f.what for f in run.audit.lost][:10]
    assert run.audit.twice == [], [f.what for f in run.audit.twice][:10]
    assert run.audit.problems == []
    assert run.unexpected_5xx == [], run.unexpected_5xx[:10]
    assert run.crashes == [], "no process may die of a fault it was not dealt"
    assert run.audit.deliveries >= run.audit.events * 2 > 0
    unrecovered = [i.fault for i in run.injections if i.recovery_s is None]
    assert not unrecovered, f"not recovered within {RECOVERY_TIMEOUT_S:.0f} s: {unrecovered}"
