"""``overstap batch`` end to end on real archives: a mixed corpus as folder, .zip and .tar.gz.

Every good member must end as schema-valid zakLk01 output, every broken one in quarantine with its
reason, the report must account for every member exactly once, OS litter must be skipped, the
three input kinds and the three output kinds must agree, and the shards must add up to one run.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import batch_corpus
import pytest
from batch_corpus import Corpus, archive_tree, summary_without_run, tree
from click.testing import CliRunner

from gateway.batch import BatchOptions, Shard, run
from gateway.batch.keys import REASON_SUFFIX
from gateway.cli import main
from gateway.pipeline import FAILURES, Converter, describe
from gateway.render.schemas import check


@pytest.fixture(scope="module")
def corpus(reference_dir: Path) -> Corpus:
    return batch_corpus.build(reference_dir)


@pytest.fixture(scope="module")
def inputs(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    return {
        "folder": batch_corpus.write_folder(corpus, root / "corpus"),
        "zip": batch_corpus.write_zip(corpus, root / "corpus.zip"),
        "tar.gz": batch_corpus.write_tar(corpus, root / "corpus.tar.gz"),
    }


@pytest.fixture(scope="module")
def folder_run(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip input converted into a folder, once for several tests."""
    out = tmp_path_factory.mktemp("runs") / "from-zip"
    outcome = run(BatchOptions([inputs["zip"]], out, workers=2, progress="quiet"))
    assert outcome.exit_code == 1, "some inputs are broken: exit status 1"
    return out


def report(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]


def one_by_one(corpus: Corpus, lines: list[dict[str, object]], label: str) -> dict[str, tuple[str, object]]:
    """What ``convert`` makes of each good member, one by one in the batch's input order with one ledger:
    ("ok", number of outputs) or ("failed", code). Profile zkn v2 depends on order: a 305 before any 301 of
    its toewijzing names no zaak (StUF064), a retour or a message whose state is known has no output."""
    converter = Converter()  # one in-memory ledger for the whole corpus, as convert --state would keep it
    out: dict[str, tuple[str, object]] = {}
    for line in lines:
        rel = str(line["source"]).removeprefix(f"{label}/")
        if rel in corpus.good:
            try:
                out[rel] = ("ok", len(converter.convert(corpus.files[rel], rel).outputs))
            except FAILURES as exc:
                out[rel] = ("failed", describe(exc, rel).code)
    return out


def check_out(out: Path, corpus: Corpus, label: str) -> None:
    lines = report(out)
    by_source = {line["source"]: line for line in lines}
    assert len(by_source) == len(lines), "one report line per input"
    expected = {f"{label}/{rel}" for rel in corpus.good | set(corpus.broken)}
    assert set(by_source) == expected, "the report accounts for every member, and nothing else (no OS litter)"

    reference = one_by_one(corpus, lines, label)
    # the corpus holds the same chains as 2.0 XML, EI, 2.1 and transport copies in one ledger, so many members are
    # retours, repeats ("no change") or older than the state held (docs/canonical-spec.md 7): they give nothing
    assert sum(n for status, n in reference.values() if status == "ok") > len(corpus.good) // 2  # type: ignore[misc]
    for rel in sorted(corpus.good):
        line = by_source[f"{label}/{rel}"]
        status, detail = reference[rel]
        assert line["status"] == status, f"{rel}: {line.get('error')}"
        if status == "failed":
            assert line["error"]["code"] == detail  # type: ignore[index]
            continue
        assert line["mapping"] and line["dialect"]
        assert len(line["outputs"]) == detail, f"{rel}: outputs"  # type: ignore[arg-type]
        for name in line["outputs"]:  # type: ignore[union-attr]
            assert name.startswith(f"converted/{label}/{rel}.")
            check((out / name).read_bytes(), "zkn")  # raises OutputInvalid
    for rel, reason in sorted(corpus.broken.items()):
        line = by_source[f"{label}/{rel}"]
        assert line["status"] == "failed", rel
        error = line["error"]
        assert reason in error["message"], f"{rel}: {error}"  # type: ignore[index]
        q = out / str(line["quarantine"])
        assert q.read_bytes() == corpus.files[rel], "the failed input is kept as it was"
        assert reason in (out / (str(line["quarantine"]) + REASON_SUFFIX)).read_text()

    converted = {p.relative_to(out).as_posix() for p in (out / "converted").rglob("*") if p.is_file()}
    assert converted == {o for line in lines if line["status"] == "ok" for o in line["outputs"]}  # type: ignore[union-attr]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"] == len(expected)
    ok = sum(status == "ok" for status, _ in reference.values())
    assert summary["status"] == {"ok": ok, "failed": len(corpus.broken) + len(corpus.good) - ok}
    assert summary["skipped"] == len(corpus.junk)
    assert sum(summary["mappings"].values()) >= ok
    assert summary["outputs"] == len(converted)


@pytest.mark.parametrize("kind", ["folder", "zip", "tar.gz"])
def test_every_member_converted_or_quarantined_with_its_reason(kind: str, corpus: Corpus, inputs: dict[str, Path],
                                                               tmp_path: Path) -> None:
    source = inputs[kind]
    outcome = run(BatchOptions([source], tmp_path / "out", workers=2, progress="quiet"))
    assert outcome.exit_code == 1
    check_out(tmp_path / "out", corpus, source.name)


def test_report_line_names_field_and_line(folder_run: Path, corpus: Corpus) -> None:
    lines = {line["source"]: line for line in report(folder_run)}
    bad = lines["corpus.zip/broken/bad-bsn.xml"]
    data = corpus.files["broken/bad-bsn.xml"]
    assert bad["error"]["field"] == "clients.0.bsn <- /wmo301:Bericht/wmo301:Clienten/wmo301:Client/wmo301:Bsn"  # type: ignore[index]
    assert bad["error"]["line"] == data[: data.index(b"<wmo301:Bsn>")].count(b"\n") + 1  # type: ignore[index]
    assert bad["mapping"] == "iwmo20-wmo301", "a failure after detection still names its mapping"
    reason = (folder_run / "quarantine/corpus.zip/broken/bad-bsn.xml.reason").read_text()
    assert "field: clients.0.bsn" in reason and f"line: {bad['error']['line']}" in reason  # type: ignore[index]
    assert "123456789" not in json.dumps(bad), "the report names the field, not the BSN"

    unknown = lines["corpus.zip/broken/unknown-dialect.xml"]
    assert unknown["mapping"] is None and unknown["error"]["field"] == "dialect"  # type: ignore[index]
    ggk = lines["corpus.zip/transport/ggk/toewijzing-di01.xml"]
    assert ggk["envelopes"] == ["ggk-Di01"] and ggk["mapping"] == "iwmo21-wmo301"
    soap = lines["corpus.zip/transport/soap/toewijzing.xml"]
    assert soap["envelopes"] == ["soap11"] and soap["mapping"] == "iwmo20-wmo301"
    ei = lines["corpus.zip/2016/ei/CasusA-02-WMO301_toewijzing.ei"]
    assert ei["dialect"] == "wmo301 2.0 ei"


def test_multi_client_message_gives_one_output_per_zaak(folder_run: Path) -> None:
    lines = {line["source"]: line for line in report(folder_run)}
    multi = lines["corpus.zip/fixtures/iwmo21/Multi-WMO301_twee_clienten.xml"]
    assert len(multi["outputs"]) == 4  # two clients with two toewijzingen each: one zaak per toewijzing (v2)
    assert len(set(multi["outputs"])) == 4  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_archive_output_holds_the_same_as_a_folder(suffix: str, inputs: dict[str, Path], folder_run: Path,
                                                   tmp_path: Path) -> None:
    target = tmp_path / f"out{suffix}"
    outcome = run(BatchOptions([inputs["zip"]], target, workers=2, progress="quiet"))
    assert outcome.exit_code == 1
    assert target.is_file() and not (tmp_path / f"out{suffix}.partial").exists()
    assert archive_tree(target) == tree(folder_run)
    assert outcome.summary is not None
    assert summary_without_run(json.dumps(outcome.summary).encode()) == \
        summary_without_run((folder_run / "summary.json").read_bytes())


def test_shards_split_the_members_of_the_single_run(inputs: dict[str, Path], folder_run: Path,
                                                   tmp_path: Path) -> None:
    """Shards are disjoint and together hold every member of the single run. Their outputs are not the single
    run's: a shard's ledger sees only its own members, so a chain split over shards renders differently
    (profile zkn v2; docs/batch.md, shards with a ledger)."""
    sources: list[str] = []
    total = 0
    for index in range(3):
        out = tmp_path / f"shard-{index}"
        run(BatchOptions([inputs["zip"]], out, workers=1, shard=Shard(index, 3), progress="quiet"))
        mine = [json.loads(line)["source"] for line in (out / "report.jsonl").read_text().splitlines()]
        assert mine, "each shard gets some of 80-odd members"
        assert not set(mine) & set(sources), "shards are disjoint"
        sources += mine
        total += json.loads((out / "summary.json").read_text())["inputs"]
    single = [json.loads(line)["source"] for line in (folder_run / "report.jsonl").read_text().splitlines()]
    assert sorted(sources) == sorted(single) and total == len(single)


def test_several_inputs_and_a_folder_holding_an_archive(corpus: Corpus, inputs: dict[str, Path],
                                                        tmp_path: Path) -> None:
    nest = tmp_path / "nest"
    (nest / "2017" / "maart").mkdir(parents=True)
    batch_corpus.write_zip(corpus, nest / "2017" / "maart" / "export.zip")
    (nest / "2017" / "los.xml").write_bytes(corpus.files["2016/xml/CasusA-02-WMO301_toewijzing.xml"])
    out = tmp_path / "out"
    outcome = run(BatchOptions([nest, inputs["tar.gz"]], out, workers=2, progress="quiet"))
    assert outcome.summary is not None
    sources = {line["source"] for line in report(out)}
    assert "nest/2017/los.xml" in sources
    assert "nest/2017/maart/export.zip/fixtures/iwmo21/CasusA-01-WMO315_verzoek.xml" in sources
    assert "corpus.tar.gz/broken/not-xml.xml" in sources
    members = len(corpus.good) + len(corpus.broken)
    assert outcome.summary["inputs"] == 2 * members + 1


# -- the command line ------------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str, str]:
    state = [] if "--state" in args else ["--state", "none"]  # never the default ./overstap-state of the cwd
    result = CliRunner().invoke(main, ["batch", *args, *state], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_exit_status_zero_when_everything_converts(reference_dir: Path, tmp_path: Path) -> None:
    chains = tmp_path / "chains"  # casus A-C: every 305/307 comes after the 301 of its toewijzing
    chains.mkdir()
    for path in sorted((reference_dir / "samples" / "iwmo20-xml").glob("Casus[ABC]-*.xml")):
        (chains / path.name).write_bytes(path.read_bytes())
    code, stdout, stderr = invoke(str(chains), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet")
    assert code == 0, stderr
    assert "8 input(s): 8 ok, 0 failed" in stdout
    assert stderr == "", "--quiet prints nothing but the summary"


def test_exit_status_one_and_plain_progress_lines(inputs: dict[str, Path], corpus: Corpus, tmp_path: Path) -> None:
    code, stdout, stderr = invoke(str(inputs["tar.gz"]), "--out", str(tmp_path / "o"), "--workers", "0",
                                  "--progress", "lines", "--progress-interval", "0", "--chunk-size", "8")
    assert code == 1
    assert "batch: " in stderr and " done, " in stderr and "msg/s" in stderr
    total, failed = len(corpus.good) + len(corpus.broken), failures(tmp_path / "o", corpus, "corpus.tar.gz")
    assert f"{total} input(s): {total - failed} ok, {failed} failed" in stdout and "throughput" in stdout


def failures(out: Path, corpus: Corpus, label: str) -> int:
    """The broken members plus the good ones that convert one by one in OUT's input order would refuse."""
    report = (out / "report.jsonl").read_bytes() if out.is_dir() else archive_tree(out)["report.jsonl"]
    lines = [json.loads(line) for line in report.decode().splitlines()]
    refused = sum(status == "failed" for status, _ in one_by_one(corpus, lines, label).values())
    assert len(corpus.broken) == 7 and refused > 0  # v2: e.g. a 305 whose toewijzing came later in the archive
    return len(corpus.broken) + refused


def test_json_summary_and_bar_progress(inputs: dict[str, Path], corpus: Corpus, tmp_path: Path) -> None:
    code, stdout, _ = invoke(str(inputs["zip"]), "--out", str(tmp_path / "o.zip"), "--workers", "1",
                             "--progress", "bar", "--json")
    assert code == 1
    summary = json.loads(stdout)
    assert summary["status"]["failed"] == failures(tmp_path / "o.zip", corpus, "corpus.zip")
    assert summary["run"]["workers"] == 1


@pytest.mark.parametrize("args, message", [
    (["--shard", "3/3"], "0 <= I < N"),
    (["--shard", "x"], "I/N"),
    (["--mapping", "no-such-mapping"], "no-such-mapping"),
    (["--workers", "-1"], "-1"),
])
def test_usage_errors_exit_2(args: list[str], message: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    code, _, stderr = invoke(str(inputs["zip"]), "--out", str(tmp_path / "o"), *args)
    assert code == 2
    assert message in stderr


def test_a_state_that_is_no_ledger_folder_is_a_usage_error(inputs: dict[str, Path], tmp_path: Path) -> None:
    """--state naming a file, or a folder whose ledger.sqlite is no database: exit 2 naming --state and why, OUT not
    begun; not exit 3 with a traceback and "please report this", as if a bug had stopped a run --resume continues."""
    a_file = tmp_path / "state.txt"
    a_file.write_text("not a folder")
    junk = tmp_path / "junk-state"
    junk.mkdir()
    (junk / "ledger.sqlite").write_bytes(b"not a database, " * 64)
    for state, why in ((a_file, "it is a file, not a folder"), (junk, "file is not a database")):
        out = tmp_path / f"o-{state.name}.zip"
        code, stdout, stderr = invoke(str(inputs["zip"]), "--out", str(out), "--state", str(state))
        assert code == 2, stderr
        assert f"error: --state {state}: cannot open the zaak ledger: {why}" in stderr
        assert "Traceback" not in stderr + stdout
        assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    assert a_file.read_text() == "not a folder"


def test_missing_input_and_occupied_out_exit_2(inputs: dict[str, Path], tmp_path: Path) -> None:
    code, _, stderr = invoke(str(tmp_path / "nope.zip"), "--out", str(tmp_path / "o"))
    assert code == 2 and "no such file" in stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    code, _, stderr = invoke(str(inputs["zip"]), "--out", str(tmp_path / "full"))
    assert code == 2 and "not empty" in stderr
    code, _, stderr = invoke(str(inputs["folder"]), "--out", str(inputs["folder"] / "inside"))
    assert code == 2 and "inside an input" in stderr
    assert not (inputs["folder"] / "inside").exists()


def test_an_input_inside_what_the_run_writes_is_refused_and_kept(inputs: dict[str, Path], tmp_path: Path) -> None:
    """An input folder named OUT.partial would be read with the run's own files and removed at its end; a --state
    folder inside an input folder would have its ledger read, in use, as messages (the default under ``batch .``)."""
    partial = tmp_path / "export.zip.partial"
    shutil.copytree(inputs["folder"], partial)
    before = sorted(p.name for p in partial.rglob("*"))
    for resume in ([], ["--resume"]):
        code, _, stderr = invoke(str(partial), "--out", str(tmp_path / "export.zip"), "--state", "none", *resume)
        assert code == 2 and "OUT's work folder" in stderr and "overlap" in stderr
    assert sorted(p.name for p in partial.rglob("*")) == before
    assert not (tmp_path / "export.zip").exists()
    code, _, stderr = invoke(str(inputs["folder"]), "--out", str(tmp_path / "o.zip"),
                             "--state", str(inputs["folder"] / "overstap-state"))
    assert code == 2 and "--state" in stderr and "overlap" in stderr
    assert not (inputs["folder"] / "overstap-state").exists() and not (tmp_path / "o.zip.partial").exists()
    state = tmp_path / "state"
    assert invoke(str(inputs["zip"]), "--out", str(tmp_path / "first.zip"), "--state", str(state), "-q")[0] == 1
    code, _, stderr = invoke(str(state / "ledger.sqlite"), "--out", str(tmp_path / "o.zip"), "--state", str(state))
    assert code == 2 and "--state" in stderr, "the ledger itself given as an input"


def test_a_name_that_is_not_utf8_converts_and_is_reported(reference_dir: Path, tmp_path: Path) -> None:
    """A latin-1 ``cliënt`` file name (a folder from an old Windows share, a tar made there) stopped the run
    with exit 3 on every resume: the key could not be written into the report. Now it converts under ``%EB``."""
    import io
    import os
    import tarfile

    message = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-01-WMO315_verzoek.xml").read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / os.fsdecode(b"01-cli\xebnt.xml")).write_bytes(message)
    with tarfile.open(tmp_path / "in.tar", "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(os.fsdecode(b"02-cli\xebnt.xml"))
        info.size = len(message)
        tar.addfile(info, io.BytesIO(message))
    for source, out in ((folder, tmp_path / "o.zip"), (tmp_path / "in.tar", tmp_path / "o-folder")):
        code, _, stderr = invoke(str(source), "--out", str(out), "--workers", "1", "-q")
        assert code == 0, stderr
        report = (tree(out) if out.suffix != ".zip" else archive_tree(out))["report.jsonl"]
        (line,) = [json.loads(x) for x in report.splitlines()]
        assert line["status"] == "ok" and "cli%EBnt.xml" in line["source"], line


@pytest.mark.parametrize("out_name", ["o.zip", "o-folder"])
def test_a_second_run_on_an_out_in_use_is_refused_and_touches_nothing(inputs: dict[str, Path], tmp_path: Path,
                                                                     out_name: str) -> None:
    """Two runs on one OUT (a restarted job whose old pod still runs): the second is refused before it reads the
    journal or truncates a byte, with or without --resume; the lock goes with the run that held it."""
    from gateway.batch.outlock import OutLock

    out = tmp_path / out_name
    code, _, stderr = invoke(str(inputs["zip"]), "--out", str(out), "--workers", "0", "-q")
    assert code == 1, stderr
    workdir = out if out_name == "o-folder" else tmp_path / "o.zip.partial"
    workdir.mkdir(exist_ok=True)
    journal = workdir / (".journal.jsonl" if out_name == "o-folder" else "journal.jsonl")
    journal.write_bytes(b'{"a": "run in progress"}\n')
    files = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
    held = OutLock()
    held.take(workdir)  # as the first run holds it
    try:
        for resume in (["--resume"], []):
            code, _, stderr = invoke(str(inputs["zip"]), "--out", str(out), "--workers", "0", *resume)
            assert code == 2 and "another run is using" in stderr, stderr
            assert {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()} == files
    finally:
        held.release()
    again = OutLock()
    again.take(workdir)  # the refused runs hold nothing
    again.release()


def test_resume_refuses_other_arguments_and_finished_runs_say_so(inputs: dict[str, Path], corpus: Corpus,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "o.tar.gz"
    assert invoke(str(inputs["zip"]), "--out", str(out), "--workers", "0", "-q")[0] == 1
    code, stdout, stderr = invoke(str(inputs["zip"]), "--out", str(out), "--resume")
    assert code == 1, "a finished run answers with its summary and status"
    assert "already complete" in stderr and f"{failures(out, corpus, 'corpus.zip')} failed" in stdout
    code, _, stderr = invoke(str(inputs["zip"]), "--out", str(out))
    assert code == 2 and "already exists" in stderr
    folder = tmp_path / "f"
    assert invoke(str(inputs["zip"]), "--out", str(folder), "--workers", "0", "-q")[0] == 1
    code, _, stderr = invoke(str(inputs["tar.gz"]), "--out", str(folder), "--resume")
    assert code == 2 and "different arguments" in stderr and "inputs" in stderr


def test_resume_on_a_published_archive_is_compared_with_the_run_that_made_it(inputs: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    """Once OUT.zip is published its journal is gone; the summary inside keeps the run's arguments, so a --resume
    with other inputs or options is refused (exit 2, nothing written) instead of answered "already complete" with
    exit 0 and nothing of them converted. An OUT no run finished (a foreign ZIP, junk) is refused in one line."""
    out = tmp_path / "o.zip"
    assert invoke(str(inputs["zip"]), "--out", str(out), "--workers", "0", "-q")[0] == 1
    published = out.read_bytes()
    code, _, stderr = invoke(str(inputs["zip"]), "--out", str(out), "--resume")
    assert code == 1 and "already complete" in stderr, "the same run still answers with its summary and status"
    code, _, stderr = invoke(str(inputs["tar.gz"]), "--out", str(out), "--resume")
    assert code == 2 and "different arguments than the run that finished" in stderr, stderr
    assert f"inputs: the archive has [{str(inputs['zip'])!r}], this run [{str(inputs['tar.gz'])!r}]" in stderr
    code, _, stderr = invoke(str(inputs["zip"]), "--out", str(out), "--resume", "--profile", "ggk")
    assert code == 2 and "profile: the archive has 'zkn', this run 'ggk'" in stderr, stderr
    assert out.read_bytes() == published and not (tmp_path / "o.zip.partial").exists()
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("a.xml", b"<a/>")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    for other in (foreign, junk):
        code, stdout, stderr = invoke(str(inputs["zip"]), "--out", str(other), "--resume")
        assert code == 2 and "is not an archive a batch run finished" in stderr and not stdout, stderr


def test_the_default_leaves_the_parent_a_core_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent renders every output in order (the critical path): a worker per core only takes turns with it."""
    import os

    from gateway.batch import runner

    for cores, workers in ((1, 1), (2, 1), (4, 3), (16, 15)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert runner.default_workers() == workers
