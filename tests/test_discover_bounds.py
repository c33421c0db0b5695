"""discover's memory is bounded by caps, not by what an archive holds (review finding F3).

Why: per cluster discover kept a row per distinct element path, so 400 messages of 2,000 element names
each took 2.9 GB and wrote a 207 MB report, and one message 250 levels deep with 300,000 distinct leaves
ended in a MemoryError. Each cap is tested at its edge: what is at the cap is profiled, one past is not.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.discover import cluster as clusters
from gateway.discover.cluster import MAX_CLUSTERS, MAX_TOTAL_PATHS, MIN_PATHS, Cluster
from gateway.discover.profile import MAX_DEPTH, MAX_PATHS, Profile, Profiler, walk
from gateway.discover.report import cluster_dict
from gateway.discover.run import Discovery
from gateway.mapping import Registry


def _wide(names: int, tag: str = "e") -> bytes:
    return ("<Foo>" + "".join(f"<{tag}{i}>v</{tag}{i}>" for i in range(names)) + "</Foo>").encode()


def _deep(levels: int) -> bytes:
    return ("<Foo>" + "<d>" * levels + "x" + "</d>" * levels + "</Foo>").encode()


def test_a_message_past_the_path_cap_or_the_depth_cap_is_not_profiled() -> None:
    profiler = Profiler()
    at_cap = profiler.profile("wide.xml", _wide(MAX_PATHS))
    assert at_cap.fmt == "xml" and len(at_cap.counts) == MAX_PATHS
    past = profiler.profile("wider.xml", _wide(MAX_PATHS + 1))
    assert past.fmt == "unprofiled" and past.counts == {} and past.problem is not None
    assert past.problem.startswith("too many distinct elements: more than 2,000")
    attributes = etree.fromstring(b"<Foo " + b" ".join(f'a{i}="1"'.encode() for i in range(MAX_PATHS + 1)) + b"/>")
    assert profiler.profile("attrs.xml", etree.tostring(attributes)).fmt == "unprofiled"  # attributes count too
    assert profiler.profile("deep.xml", _deep(MAX_DEPTH)).fmt == "xml"
    deeper = profiler.profile("deeper.xml", _deep(MAX_DEPTH + 1))
    assert deeper.fmt == "unprofiled" and deeper.problem == "too deep: more than 40 levels of elements; not profiled"


def test_walk_counts_paths_as_before() -> None:
    root = etree.fromstring(b'<R><a x="1"><b>t</b><b>u</b></a><a><b/></a><c> v </c></R>')
    counts, values = walk(root)
    assert counts == {("a",): 2, ("a", "@x"): 1, ("a", "b"): 3, ("c",): 1}
    assert values == {("a", "@x"): ["1"], ("a", "b"): ["t", "u"], ("c",): ["v"]}


def _profile(n: int, paths: range, prefix: str = "p") -> Profile:
    counts = {(f"{prefix}{i}",): 1 for i in paths}
    return Profile(f"m{n}", "xml", root="Foo", counts=counts, values={p: ["v"] for p in counts},
                   masked={p: "*" for p in counts})


def test_a_cluster_keeps_at_most_max_paths_and_counts_the_rest() -> None:
    cluster = Cluster.start(_profile(0, range(0)))
    assert cluster.add(_profile(0, range(MAX_PATHS - 10))) == MAX_PATHS - 10
    assert cluster.add(_profile(1, range(MAX_PATHS + 5), "q")) == 10
    assert len(cluster.presence) == MAX_PATHS and cluster.skipped == MAX_PATHS - 5
    assert set(cluster.codes) <= set(cluster.presence) and set(cluster.masked) <= set(cluster.presence)
    merged = Cluster.start(_profile(0, range(0)))
    merged.add(_profile(2, range(MAX_PATHS - 1), "r"))
    assert merged.merge(cluster) == 1 and len(merged.presence) == MAX_PATHS
    assert merged.skipped == cluster.skipped + sum(cluster.presence.values()) - 1
    assert set(merged.shapes) | set(merged.codes) | set(merged.masked) <= set(merged.presence)


def test_a_run_keeps_at_most_max_clusters_and_its_path_budget(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    found = Discovery(["x"])
    for n in range(MAX_CLUSTERS + 7):  # each message a cluster of its own (another fingerprint)
        prof = _profile(n, range(MAX_PATHS), f"m{n}_")
        prof.fingerprint = (f"extra|{n}",)
        found.add(prof)
    assert len(found.clusters) == MAX_CLUSTERS and found.unclustered == 7 and found.messages == MAX_CLUSTERS + 7
    kept = sum(len(c.presence) for c in found.clusters.values())
    assert kept == found.paths <= MAX_TOTAL_PATHS + MAX_CLUSTERS * MIN_PATHS
    assert all(len(c.presence) >= MIN_PATHS for c in found.clusters.values())  # the late ones keep their floor
    parts = Discovery(["x"])
    parts.merge({k: c for k, c in list(found.clusters.items())[:20]})
    assert parts.paths == sum(len(c.presence) for c in parts.clusters.values()) <= MAX_TOTAL_PATHS + 20 * MIN_PATHS
    monkeypatch.setattr(clusters, "MIN_PATHS", 0)
    tight = Discovery(["x"])
    tight.merge({k: c for k, c in list(found.clusters.items())[:20]})
    assert tight.paths == MAX_TOTAL_PATHS


def test_the_reviewers_wide_archive_makes_a_small_report(tmp_path: Path) -> None:
    """Forty messages of 2,000 names of their own: before the caps a 20 MB report of 80,000 paths."""
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in range(40):
            zf.writestr(f"m{m}.xml", _wide(MAX_PATHS, f"e{m}_"))
        zf.writestr("deep.xml", _deep(250))
    result = CliRunner().invoke(main, ["discover", str(archive), "--workers", "0", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    (wide,) = [c for c in report["clusters"] if c["id"].startswith("unknown-foo")]
    assert wide["messages"] == 40 and len(wide["paths"]) == MAX_PATHS and wide["paths_not_profiled"] == 39 * MAX_PATHS
    assert "78000 more path(s) not profiled" in result.output
    (deep,) = [c for c in report["clusters"] if c["id"] == "unprofiled"]
    assert list(deep["mapping"]["problems"]) == ["too deep: more than 40 levels of elements; not profiled"]
    assert "not profiled" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "r" / "report.json").stat().st_size < 1_000_000


def test_the_profilers_caches_stay_bounded() -> None:
    profiler = Profiler()
    for m in range(40):  # each message its own path set, compared with a dialect (the structure cache)
        data = (b'<Bericht xmlns="http://www.istandaarden.nl/iwmo/2_0/wmo301/schema/2_0"><Header/>'
                + "".join(f"<e{m}_{i}>v</e{m}_{i}>" for i in range(1500)).encode() + b"</Bericht>")
        assert profiler.profile(f"m{m}.xml", data).reference == "iwmo20-wmo301"
    held = sum(len(k[1]) + len(k[2]) for k in profiler._structure)
    assert held <= 50_000 and profiler._structure_paths == held


def test_a_cluster_past_its_cap_reports_nothing_missing(reference_dir: Path) -> None:
    """A required element may be among the paths past the cap: it is not judged missing then."""
    registry = Registry()
    sample = (reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml").read_bytes()
    prof = Profiler(registry).profile("m.xml", sample.replace(b"<wmo301:Bsn>123456782</wmo301:Bsn>", b""))
    whole = Cluster.start(prof)
    whole.add(prof)
    assert any(d["kind"] == "missing" for d in cluster_dict(whole, registry)["deviations"])
    whole.skipped = 1
    assert not any(d["kind"] == "missing" for d in cluster_dict(whole, registry)["deviations"])
