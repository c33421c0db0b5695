"""The operator's ``overstap outbox`` commands under bad input and narrow filters (review of session 21).

Why: each of these was reproduced against a real outbox. ``show 99999999999999999999`` and ``list --limit`` past
64 bits ended in a traceback; ``list --limit 0`` listed everything; ``purge --older-than -1d`` read an age in the
future and purged what was delivered a second ago; ``list --route a`` counted every route's rows under route a's;
``replay 7 --route a`` replayed delivery 7 of route b, and ``replay 7 --mapping fixed`` sent it as stored, not with
the fixed mapping, both without a word; ``replay --quarantined --mapping unknown`` was a traceback; ``{"ids": [7,
7]}`` answered the second "changed while it was being converted; replay it again". The rows are written with the
outbox functions, so these run without the reference samples.
"""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner, Result
from proxy_helpers import samples_dir

from gateway.cli import main
from gateway.deliver import outbox
from gateway.deliver.replay import replay_deliveries


def _outbox(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Route a: one delivered (a second ago) and one dead delivery; route b: one dead; one quarantined on b."""
    data = tmp_path / "data"
    conn = outbox.connect(outbox.open_db(data))
    ids: dict[str, int] = {}
    with outbox.transaction(conn):
        for route, refs in (("a", ("A1", "A2")), ("b", ("B1",))):
            acc = outbox.accept(conn, outbox.NewMessage(route, "translate", f"<{route}/>".encode()), [
                outbox.NewDelivery(outbox.NEW, ref, "zaak-1", b"<x/>", "text/xml") for ref in refs])
            ids.update({ref: q.id for ref, q in zip(refs, acc.queued, strict=True)})
        outbox.mark_delivered(conn, ids["A1"], 1, 200, "Bv03", now=time.time() - 1)
        outbox.mark_dead(conn, ids["A2"], 1, 400, None, "HTTP 400: refused")
        outbox.mark_dead(conn, ids["B1"], 1, 400, None, "HTTP 400: refused")
        outbox.quarantine(conn, outbox.NewMessage("b", "translate", b"<broken/>", reason="does not convert"))
    conn.close()
    return data, ids


def _run(data: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["outbox", *args, "--data-dir", str(data)])


def _statuses(data: Path) -> dict[int, tuple[str, int]]:
    conn = outbox.connect(data / outbox.DB_NAME)
    try:
        return {r["id"]: (r["status"], r["replays"]) for r in outbox.delivery_rows(conn, limit=None)}
    finally:
        conn.close()


def test_numbers_sqlite_cannot_take_are_usage_errors_naming_the_parameter(tmp_path: Path) -> None:
    data, _ = _outbox(tmp_path)
    shown = _run(data, "show", str(10**20))
    assert shown.exit_code == 2, shown.output
    assert "Invalid value for 'ITEM_ID'" in shown.output and "is not in the range" in shown.output
    for limit in ("0", "-1", str(10**20)):
        listed = _run(data, "list", "--limit", limit)
        assert listed.exit_code == 2 and "Invalid value for '--limit'" in listed.output, (limit, listed.output)
    assert _run(data, "list", "--limit", "1").output.count("key zaak-1") == 1
    report = CliRunner().invoke(main, ["shadow", "report", "--limit", str(10**20), "--data-dir", str(data)])
    assert report.exit_code == 2 and "Invalid value for '--limit'" in report.output, report.output


def test_purge_refuses_an_age_that_is_negative_or_not_a_number(tmp_path: Path) -> None:
    data, ids = _outbox(tmp_path)
    before = _statuses(data)
    for age in ("-1d", "-5", "nan", "inf", "1e400d", "", "7x"):
        purged = _run(data, "purge", "--older-than", age, "--dead")
        assert purged.exit_code == 2, (age, purged.output)
        assert "Invalid value for '--older-than'" in purged.output and "not negative" in purged.output
    assert _statuses(data) == before  # nothing purged: A1 was delivered a second ago
    kept = _run(data, "purge", "--older-than", "1h")
    assert kept.exit_code == 0 and "purged 0 delivery(ies)" in kept.output, kept.output
    done = _run(data, "purge", "--older-than", "0s")
    assert done.exit_code == 0 and "purged 1 delivery(ies)" in done.output, done.output
    assert _statuses(data) == {ids["A2"]: ("dead", 0), ids["B1"]: ("dead", 0)}


def test_the_counts_of_a_listing_follow_its_route_and_target(tmp_path: Path) -> None:
    data, _ = _outbox(tmp_path)
    everything = _run(data, "list")
    assert everything.output.splitlines()[-1] == "0 pending, 1 delivered, 2 dead, 1 quarantined"
    route_a = _run(data, "list", "--route", "a")
    assert route_a.output.splitlines()[-1] == "0 pending, 1 delivered, 1 dead, 0 quarantined (of route a)"
    legacy = _run(data, "list", "--route", "b", "--target", "legacy")
    assert legacy.output.splitlines() == ["0 pending, 0 delivered, 0 dead, 1 quarantined (of route b, target legacy)"]
    quarantine = _run(data, "list", "--quarantine", "--route", "a")
    assert quarantine.output.splitlines() == ["0 quarantined message(s) (of route a)"]
    for passed_over in (("--quarantine", "--status", "dead"), ("--quarantine", "--target", "new"),
                        ("--unmapped", "--status", "pending"), ("--unmapped", "--quarantine")):
        refused = _run(data, "list", *passed_over)
        assert refused.exit_code == 2 and refused.output.startswith("error: --"), (passed_over, refused.output)


def test_replay_refuses_an_option_it_would_pass_over(tmp_path: Path) -> None:
    data, ids = _outbox(tmp_path)
    before = _statuses(data)
    routed = _run(data, "replay", str(ids["B1"]), "--route", "a")
    assert routed.exit_code == 2 and "--route picks the dead letters of --all-dead" in routed.output, routed.output
    mapped = _run(data, "replay", str(ids["B1"]), "--mapping", "fixed.yaml")
    assert mapped.exit_code == 2 and "replayed as stored" in mapped.output, mapped.output
    unknown = _run(data, "replay", "--quarantined", "1", "--mapping", "no-such-mapping")
    assert unknown.exit_code == 2, unknown.output
    assert "no mapping named 'no-such-mapping'" in unknown.output
    assert _statuses(data) == before
    only_a = _run(data, "replay", "--all-dead", "--route", "a")
    assert only_a.exit_code == 0 and "1 replayed, 0 not" in only_a.output, only_a.output
    assert _statuses(data)[ids["A2"]] == ("pending", 1) and _statuses(data)[ids["B1"]] == ("dead", 0)


def test_a_delivery_named_twice_is_replayed_once(tmp_path: Path) -> None:
    data, ids = _outbox(tmp_path)
    conn = outbox.connect(data / outbox.DB_NAME)
    with outbox.transaction(conn):
        results = replay_deliveries(conn, [ids["A2"], ids["A2"]])
    assert [(r.id, r.ok, r.note) for r in results] == [(ids["A2"], True, "queued again as stored")]
    conn.close()
    both = _run(data, "replay", str(ids["B1"]), "--all-dead")  # B1 is dead: named, and found by --all-dead
    assert both.exit_code == 0, both.output
    assert both.output.splitlines() == [f"ok   {ids['B1']}: queued again as stored", "1 replayed, 0 not"]
    assert _statuses(data)[ids["B1"]] == ("pending", 1)


def test_a_dead_letter_named_and_found_by_all_dead_in_another_chunk_is_replayed_once(tmp_path: Path) -> None:
    """--all-dead lists the newest first, so the oldest dead letter, named too, falls in a later chunk of 50."""
    data, ids = _outbox(tmp_path)
    conn = outbox.connect(data / outbox.DB_NAME)
    with outbox.transaction(conn):
        acc = outbox.accept(conn, outbox.NewMessage("c", "translate", b"<c/>"), [
            outbox.NewDelivery(outbox.NEW, f"C{n}", f"zaak-{n}", b"<x/>", "text/xml") for n in range(60)])
        for queued in acc.queued:
            outbox.mark_dead(conn, queued.id, 1, 400, None, "HTTP 400: refused")
    conn.close()
    replayed = _run(data, "replay", str(ids["A2"]), "--all-dead")
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.splitlines()[-1] == "62 replayed, 0 not"
    assert {status for status, _ in _statuses(data).values()} == {"pending", "delivered"}


def test_a_store_url_psycopg_cannot_read_is_a_usage_error_that_does_not_quote_it(tmp_path: Path) -> None:
    """psycopg refuses a space in a URL quoting the part it is in: a password with a space was printed, in a
    ProgrammingError traceback, by every command that takes --store (and by the sidecar at its start)."""
    for url in ("postgresql://bob:Ge heim@127.0.0.1:1/x", "postgresql://127.0.0.1:1/x?password=Ge heim"):
        listed = CliRunner().invoke(main, ["outbox", "list", "--store", url])
        assert listed.exit_code == 2, listed.output
        assert "the store URL cannot be read (postgresql://127.0.0.1:1/x)" in listed.output
        assert "heim" not in listed.output


def test_a_quarantined_message_is_rendered_in_the_profile_of_a_sidecar_started_without_a_config(
        tmp_path: Path) -> None:
    """``serve --profile ggk`` keeps no config file to name: ``replay --quarantined`` rendered a StUF-ZKN message for
    its GGk receiver, with no way to say otherwise. It takes the sidecar's --profile now (refused where unused)."""
    original = (samples_dir() / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    data, ids = _outbox(tmp_path)
    conn = outbox.connect(data / outbox.DB_NAME)
    with outbox.transaction(conn):
        qid = outbox.quarantine(conn, outbox.NewMessage("b", "translate", original, reason="was broken"))
    unused = _run(data, "replay", str(ids["B1"]), "--profile", "ggk")
    assert unused.exit_code == 2 and "--profile renders quarantined messages" in unused.output, unused.output
    replayed = _run(data, "replay", "--quarantined", str(qid), "--profile", "ggk")
    assert replayed.exit_code == 0 and "1 delivery(ies) queued" in replayed.output, replayed.output
    (new,) = [r for r in outbox.delivery_rows(conn, route="b") if r["status"] == outbox.PENDING]
    payload = bytes(outbox.delivery(conn, new["id"])["payload"])
    assert b"<GGK:envelopHeenbericht-ggk_Di01" in payload and b"ZKN" not in payload
    conn.close()
