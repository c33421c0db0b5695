"""A fault-schedule soak: the sidecar's promises under several faults in one run, as an operator's bad day looks.

Why: tests/test_proxy_process.py, tests/test_replicas.py and tests/test_proxy_pgstore.py each prove one fault at a
time; a retry that a restart forgets, or an acknowledgement that a cut store connection makes early, shows only when
faults meet. Real ``overstap serve`` processes (SQLite; or two replicas on PostgreSQL) are fed by concurrent senders,
each sending one zaak's messages in order, while two seeded schedules run at once: on the sidecar's side SIGKILL and
restart (and on PostgreSQL every store connection terminated), on the downstream's side connections refused, HTTP
503, answers past the timeout and connections closed mid-answer (tests/chaos_helpers.py). After the faults stop and
the backlog drains: every acknowledged message's deliveries were applied exactly once; a message a sender gave up
on after an attempt that may have reached the sidecar (half the zaken's senders do, once) was stored and delivered
whole, or left nothing behind; a delivery came on the wire again only after an answer that may have been lost or a
fault of the sidecar's, and with the same bytes; every stored delivery is delivered; per zaak the receiver applied
them in the order they were acknowledged; and its zaken are those the same deliveries give applied once, in order,
to a fresh reference receiver, and (slow variants) those a fault-free sidecar makes of the same messages.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pg_helpers
import pytest
from chaos_helpers import DOWNSTREAM_FAULTS, Fault, FaultDownstream, Faults, check, schedule, send
from depth import depth
from pg_helpers import fresh_database
from proxy_helpers import FAST_RETRY, GatewayProcess, alive, free_port, sample, samples_dir, variant, wait_for

from gateway.deliver import outbox

BASES = ("CasusA-02-WMO301_toewijzing.xml", "CasusB-01-WMO301_toewijzing.xml", "CasusC-02-WMO301_herindicatie.xml")
TIMEOUT = 2.0
"""The sidecar's downstream timeout; a slow answer comes after 1.5 times it."""
ANSWERED_WITHIN = 0.5
"""A Bv03 written within this many seconds of the request's arrival counts as received: the 1.5 s left of the
sidecar's timeout are room for a busy machine's lag (at a load of 8 on two cores, 0.5 s of room let a Bv03 written
in time reach the sidecar after its deadline, and the resend that followed, rightly made, failed the check)."""


def sequences(zaken: int, per_zaak: int) -> list[list[bytes]]:
    """Per zaak, its messages in the order they are sent (each a change: another volume)."""
    return [[variant(sample(BASES[z % 3]), z * per_zaak + i, zaak=z) for i in range(per_zaak)] for z in range(zaken)]


def sidecar(tmp_path: Path, name: str, downstream: str, store: str | None = None,
            workers: int | None = None) -> GatewayProcess:
    """An ``overstap serve`` with a short downstream timeout and fast retries (JSON is YAML); ``workers``: conversion
    processes (0: in the sidecar's own, which starts again sooner on a busy machine)."""
    doc: dict[str, Any] = {
        "data_dir": str(tmp_path / name), "watch_mappings": False, "poll_interval": 0.2, "log_level": "warning",
        "retry": FAST_RETRY, "routes": {"default": {"downstream": "zs"}},
        "downstreams": {"zs": {"url": downstream, "timeout": TIMEOUT, "connect_timeout": 0.5}}}
    if store is not None:
        doc["store"] = store
    if workers is not None:
        doc["convert_processes"] = workers
    config = tmp_path / f"{name}.yaml"
    config.write_text(json.dumps(doc))
    return GatewayProcess(["--config", str(config)], free_port(), tmp_path / f"{name}.log")


def stored(tmp_path: Path, store: str | None) -> list[tuple[str, str, str | None]]:
    """(referentienummer, status, reason) of every delivery in the store."""
    query = "SELECT referentienummer, status, reason FROM delivery"
    if store is None:
        conn = sqlite3.connect(f"file:{tmp_path / 'r0' / outbox.DB_NAME}?mode=ro", uri=True, timeout=10)
        try:
            return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(store) as conn:
        return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]


class StoreProbe:
    """A connection of the test's own to the sidecar's store (SQLite read-only; PostgreSQL under a name the store
    cuts spare): how many of some referentienummers are committed, right now."""

    def __init__(self, tmp_path: Path, store: str | None) -> None:
        self.path = tmp_path / "r0" / outbox.DB_NAME
        self.store = store
        self.conn: Any = None

    def __call__(self, refs: list[str]) -> int:
        if self.conn is None:
            if self.store is None:
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            else:
                import psycopg

                self.conn = psycopg.connect(self.store, autocommit=True, application_name="soak-probe")
        marks = ",".join(("?" if self.store is None else "%s") for _ in refs)
        return int(self.conn.execute(f"SELECT count(*) FROM delivery WHERE referentienummer IN ({marks})",
                                     refs).fetchone()[0])

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def cut_store_connections(store: str) -> None:
    """Terminate every backend of the sidecars (a PostgreSQL restart or failover, as the sidecar sees it)."""
    import psycopg

    with psycopg.connect(store, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'overstap%'"
                      " AND pid <> pg_backend_pid()")


def soak(tmp_path: Path, *, seed: int, zaken: int, per_zaak: int, senders: int, span: float, downstream_faults: int,
         sidecar_kinds: tuple[str, ...], sidecar_faults: int, store: str | None = None,
         replicas: int = 1, workers: int | None = None, baseline: bool = True) -> dict[str, int]:
    """One run under both schedules, checked; with ``baseline`` the same messages go through a fault-free sidecar
    too, whose receiver must end with the same zaken (the quick variant leaves it out for time: its zaken are
    compared with its own deliveries applied once, in order, as every variant's are)."""
    samples_dir()
    messages = sequences(zaken, per_zaak)
    down = FaultDownstream(slow_seconds=1.5 * TIMEOUT, answer_within=ANSWERED_WITHIN).start()
    gateways = [sidecar(tmp_path, f"r{n}", down.url, store, workers) for n in range(replicas)]
    orphans: set[int] = set()
    pick = random.Random(seed)
    killed: list[int] = []

    down_while = threading.Event()

    def inject(fault: Fault) -> None:
        if fault.kind == "kill":
            killed.append(pick.randrange(replicas))
            if replicas == 1:  # no sidecar to send into: the downstream's faults wait
                down_while.set()
            orphans.update(gateways[killed[-1]].kill())
        elif fault.kind == "terminate":
            assert store is not None
            cut_store_connections(store)

    def restart(fault: Fault) -> None:
        if fault.kind == "kill":
            gateways[killed[-1]].start()
            down_while.clear()

    def back_to_normal(fault: Fault) -> None:
        """End a downstream fault once it met a request (a busy machine may slow the senders), or after 5 s more."""
        if fault.kind != "refuse":  # a refused connection never arrives
            wait_for(down.bitten, timeout=5.0)
        down.set_mode("ok")

    downstream = Faults(schedule(seed, DOWNSTREAM_FAULTS, downstream_faults, span),
                        lambda fault: down.set_mode(fault.kind), back_to_normal, repeat=True, paused=down_while)
    side = Faults(schedule(seed + 1, sidecar_kinds, sidecar_faults, span), inject, restart)
    try:
        for gateway in gateways:
            gateway.start()
        downstream.start()
        side.start()
        pace = span * senders / (zaken * per_zaak)
        probe = StoreProbe(tmp_path, store)
        try:
            sent = send(lambda rng: gateways[rng.randrange(replicas)].url, messages, senders, pace, seed,
                        gives_up=lambda z: z % 2 == 1, stored=probe)
        finally:
            probe.close()
        downstream.stop()
        side.stop()
        assert not downstream.errors and not side.errors, downstream.errors + side.errors
        # The backlog drains: every delivery in the store settled (what was not applied by then never will be).
        assert wait_for(lambda: all(status != "pending" for _, status, _ in stored(tmp_path, store)), timeout=120,
                        interval=0.2), "deliveries still pending two minutes after the faults stopped"
        time.sleep(1.0)  # a delivery wrongly sent again would be on its way by now
        counts, dropped = check(down, sent, zaken, per_zaak, stored(tmp_path, store), [side])
    finally:
        for gateway in gateways:
            orphans.update(gateway.kill())
        down.stop()
    assert wait_for(lambda: not alive(orphans), timeout=30), f"left behind: {alive(orphans)}"
    assert {kind for _, _, kind in downstream.done} == set(DOWNSTREAM_FAULTS)
    assert {kind for _, _, kind in side.done} == set(sidecar_kinds)
    assert sent.retried, "no fault interrupted a sender"
    assert [mode for mode in ("503", "slow", "cut") if not counts.get(f"arrived in {mode}")] == [], counts
    counts["faults"] = len(downstream.done) + len(side.done)
    counts["sidecar faults"] = len(side.done)

    if baseline:
        fresh = FaultDownstream(slow_seconds=0.0, answer_within=TIMEOUT).start()
        one = sidecar(tmp_path, "fresh", fresh.url, workers=0)
        try:
            one.start()
            kept = [[m for i, m in enumerate(sequence) if (z, i) not in dropped] for z, sequence in enumerate(messages)]
            single = send(lambda _: one.url, kept, senders, 0.0, seed)
            assert wait_for(lambda: single.refs() <= fresh.applied_refs(), timeout=120)
        finally:
            one.kill()
            fresh.stop()
        assert down.states() == fresh.states()
    print(f"\nfault soak seed {seed}: {counts}; downstream faults {[k for _, _, k in downstream.done]}, "
          f"sidecar faults {[k for _, _, k in side.done]}, unacknowledged attempts {dict(sent.failures)}")
    return counts


def test_fault_soak_quick_on_sqlite(tmp_path: Path) -> None:
    """The quick variant in the normal suite: a fixed seed, a kill, each downstream fault at least once."""
    counts = soak(tmp_path, seed=25, zaken=16, per_zaak=8, senders=8, span=8.0, downstream_faults=5,
                  sidecar_kinds=("kill",), sidecar_faults=1, workers=0, baseline=False)
    assert counts["messages"] == 128 and counts["sidecar faults"] == 1 and counts["acknowledged"] > 100


LONG_SQLITE = depth((32, 12, 28.0, 9), (60, 15, 45.0, 14))
"""The long SQLite soak's zaken, messages per zaak, seconds of faults and downstream faults (tests/depth.py)."""


@pytest.mark.slow
@pytest.mark.parametrize("seed", depth([1], [1, 2, 3]))
def test_fault_soak_long_on_sqlite(tmp_path: Path, seed: int) -> None:
    """Four kills, then the fault-free baseline. `make test`: one seed, 384 messages over 32 zaken, 28 s of faults
    (9 of the downstream's), about 50 s; the nightly's ``OVERSTAP_DEPTH=long``: three seeds, 900 messages over 60
    zaken, 45 s (14), about 105 s each (docs/testing.md, "CI run time (session 31)")."""
    zaken, per_zaak, span, downstream_faults = LONG_SQLITE
    soak(tmp_path, seed=seed, zaken=zaken, per_zaak=per_zaak, senders=16, span=span,
         downstream_faults=downstream_faults, sidecar_kinds=("kill",), sidecar_faults=4)


server = pg_helpers.server  # one PostgreSQL server for this module


@pytest.mark.slow
def test_fault_soak_two_replicas_on_postgresql(tmp_path: Path, server: str) -> None:
    """Two replicas on one store: one killed at times, every store connection terminated at others. `make test`
    runs half the schedule (300 messages, 22 s of faults, 4 of the sidecars'); the nightly's ``OVERSTAP_DEPTH=long``
    the whole (720 messages, 45 s, 6; about 70 s)."""
    zaken, per_zaak, senders, span, downstream_faults, sidecar_faults = depth((30, 10, 12, 22.0, 8, 4),
                                                                              (60, 12, 16, 45.0, 14, 6))
    soak(tmp_path, seed=7, zaken=zaken, per_zaak=per_zaak, senders=senders, span=span,
         downstream_faults=downstream_faults, sidecar_kinds=("kill", "terminate"), sidecar_faults=sidecar_faults,
         store=fresh_database(server, "soak"), replicas=2)
