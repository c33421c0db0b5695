"""``overstap scaffold``: a draft mapping file for one discover cluster.

The draft ``extends`` the closest built-in dialect and overrides only what deviates: renamed
elements and values moved into attributes get their new path, formats get a transform, codes get
a value map prefilled from what was observed, extension elements are kept as ``extra.*``. Where the
cluster shares no structure with the dialect, every field is looked up by name instead
(:class:`gateway.discover.infer.Foreign`). Every inferred line carries a GUESS comment, and the
``tests:`` are generated from example messages with each expectation marked UNCONFIRMED.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from gateway.batch.inputs import Inputs
from gateway.ingest import read
from gateway.mapping import Compiled, ConversionError, Registry, map_source

from .cluster import Cluster
from .compare import Deviation, deviations
from .draft import UNCONFIRMED, Block, Draft, flatten
from .expect import Tags, expectation, local
from .infer import Foreign, _relative, transforms_for, value_map_for
from .profile import reason
from .shapes import local_code, mask_key, told

MAX_TESTS = 3
MAX_EXPECT = 30


def _prefixes(base: Compiled, cluster: Cluster, draft: Draft) -> dict[str, str]:
    """URI -> prefix: the base dialect's own, then ``v`` for the cluster's namespace, ``x``, ``x2``... for others."""
    out = {uri: prefix for prefix, uri in base.namespaces.items()}
    uris = sorted({t.lstrip("@")[1:].partition("}")[0] for p in cluster.presence for t in p
                   if t.lstrip("@").startswith("{")})
    if cluster.namespace and cluster.namespace not in out:
        out[cluster.namespace] = "v"
        draft.namespaces["v"] = cluster.namespace
    for n, uri in enumerate(u for u in uris if u not in out):
        prefix = "x" if n == 0 else f"x{n + 1}"
        out[uri] = prefix
        draft.namespaces[prefix] = uri
    return out


def _base_spec(base: Compiled, target: str) -> dict[str, Any]:
    """The base dialect's own rule for a full target, as plain data, to start an override from."""
    return _find_spec(base.raw.get("rules", {}), target.split("."))


def _find_spec(node: Any, parts: list[str]) -> dict[str, Any]:
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if not isinstance(node, dict) or key not in node:
            continue
        spec = node[key]
        if k == len(parts):
            return {"path": spec} if isinstance(spec, str) else {k: _plain(v) for k, v in spec.items()}
        if isinstance(spec, dict) and "rules" in spec:
            return _find_spec(spec["rules"], parts[k:])
    return {}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _split(exp_groups: list[tuple[str, Tags]], path: Tags) -> tuple[str, Tags]:
    """The group chain a path belongs to and the group's absolute path (the deepest group containing it)."""
    best: tuple[str, Tags] = ("", ())
    for chain, anchor in exp_groups:
        if path[: len(anchor)] == anchor and len(anchor) > len(best[1]) and len(path) > len(anchor):
            best = (chain, anchor)
    return best


def _where(keys: list[str], field: str) -> str:
    """The dotted key of a rule in the draft, for its GUESS comment."""
    return ".".join(["rules", *[f"{k}.rules" for k in keys], field])


class Variant:
    """Deltas for a cluster that is the base dialect with deviations."""

    def __init__(self, cluster: Cluster, base: Compiled, draft: Draft, prefixes: dict[str, str]) -> None:
        self.cluster, self.base, self.draft, self.prefixes = cluster, base, draft, prefixes
        self.groups = expectation(base).groups

    def _spec(self, target: str) -> tuple[dict[str, Any], str]:
        """The draft's rule for the full target (``clients.producten.code``), started from the base's rule."""
        chain, _, field = target.rpartition(".")
        while chain and chain not in {g for g, _ in self.groups}:
            chain, _, head = chain.rpartition(".")
            field = f"{head}.{field}"
        keys = self._keys(chain)
        rules = self.draft.group(keys)
        if field not in rules:
            rules[field] = _base_spec(self.base, target)
        return rules[field], _where(keys, field)

    def _keys(self, chain: str) -> list[str]:
        """``clients.beschikking.producten`` -> ``["clients", "beschikking.producten"]``: the group keys on the way."""
        keys: list[str] = []
        done = ""
        for group in sorted({g for g, _ in self.groups if chain == g or chain.startswith(g + ".")}, key=len):
            keys.append(group[len(done):].lstrip("."))
            done = group
        return keys

    def apply(self, dev: Deviation) -> None:
        if dev.kind in ("renamed", "attribute") and dev.target:
            spec, where = self._spec(dev.target)
            chain, anchor = _split(self.groups, dev.seen_path)
            spec["path"] = _relative(dev.seen_path, anchor, self.prefixes)
            self.draft.guess(where, f"{dev.kind}: {dev.detail}")
        elif dev.kind == "format" and dev.target:
            self._format(dev)
        elif dev.kind == "code" and dev.target:
            self._code(dev)
        elif dev.kind == "extra":
            chain, anchor = _split(self.groups, dev.seen_path)
            name = re.sub(r"\W", "_", local(dev.seen_path[-1]).lstrip("@")).lower()
            keys = self._keys(chain)
            self.draft.group(keys)[f"extra.{name}"] = _relative(dev.seen_path, anchor, self.prefixes)
            self.draft.guess(_where(keys, f"extra.{name}"), f"no rule of {self.base.name} reads {dev.path}: kept as "
                             "an extraElement (map it to a canonical field, or move it to ignore:)")
        elif dev.kind == "missing" and dev.target:
            spec, where = self._spec(dev.target)
            spec["required"] = False
            self.draft.guess(where, f"{dev.detail} in {dev.messages} message(s): no longer required")

    def _format(self, dev: Deviation) -> None:
        spec, where = self._spec(dev.target or "")
        observed = dev.observed or ""
        if observed.startswith("prefix:"):
            codes = self.cluster.codes.get(dev.seen_path, {})
            prefixes = {c.split(observed[7:][-1], 1)[0] for c in codes} if codes else set()
            if len(prefixes) == 1 and "map" not in spec:
                spec["transform"] = {"strip_prefix": observed[7:]}
                self.draft.guess(where, f"every code starts with {observed[7:]!r}: the prefix is removed")
                return
            name = (dev.target or "code").rsplit(".", 1)[-1]
            name = "productcode" if name == "code" else name
            local_codes = sorted(c for c in codes if local_code(c))
            self.draft.value_maps[name] = {"values": dict.fromkeys(local_codes, "?"), "fallback": "error"}
            spec["map"] = name
            left = len(codes) - len(local_codes)
            self.draft.guess(f"value_maps.{name}", "the vendor's own codes: fill in each national code for '?'"
                             + (f" ({left} value(s) without a prefixed code's shape left out)" if left else ""))
            self.draft.guess(where, "local codes (several prefixes) translated by a value map")
            return
        steps, why = transforms_for(dev.target or "", self.cluster.shapes.get(dev.seen_path, {}))  # type: ignore[arg-type]
        if steps and "transform" not in spec:
            spec["transform"] = steps if len(steps) > 1 else steps[0]
            self.draft.guess(where, why or dev.detail)

    def _code(self, dev: Deviation) -> None:
        field = (dev.target or "").rsplit(".", 1)[-1]
        spec, where = self._spec(dev.target or "")
        found, _words, unknown = value_map_for(field, self.cluster.codes.get(dev.seen_path, {}))  # type: ignore[arg-type]
        if "map" in spec and spec["map"] in self.base.value_maps:
            table = dict(self.base.value_maps[spec["map"]].table)
            self.draft.value_maps[spec["map"]] = {"values": table, "fallback": "error"}
            self.draft.guess(f"value_maps.{spec['map']}", f"add {', '.join(map(repr, dev.values))} with their code")
        elif found is not None:
            self.draft.value_maps[field] = found
            spec["map"] = field
        named = ", ".join(dict.fromkeys(told(u, frozenset()) for u in (unknown or dev.values)[:5]))
        self.draft.guess(where, f"{dev.detail}; add {named} to a value map once you know what the vendor means")


def _discriminator(cluster: Cluster, devs: list[Deviation], prefixes: dict[str, str]) -> str | None:
    always = [d.seen_path for d in devs if d.kind in ("extra", "renamed", "attribute")
              and cluster.presence[d.seen_path] == cluster.messages]
    return _relative(min(always, key=len), (), prefixes) if always else None


def build(cluster: Cluster, registry: Registry, name: str) -> Draft:
    """The draft mapping for ``cluster`` (without tests: see :func:`add_tests`)."""
    if not cluster.builtin:
        raise ValueError(f"cluster {cluster.id} resembles no built-in dialect; nothing to extend")
    base = registry.get(cluster.builtin)
    examples = ", ".join(mask_key(e) for e in cluster.examples[:3])
    draft = Draft(name, f"Draft for discover cluster {cluster.id}",
                  f"Scaffolded from {cluster.messages} message(s), e.g. {examples}", base.name)
    prefixes = _prefixes(base, cluster, draft)
    draft.match = {"namespace": cluster.namespace, "root": cluster.root} if cluster.fmt == "xml" else {}
    if (cluster.namespace, cluster.root) == (base.match.namespace, base.match.root) or cluster.fmt == "ei":
        devs = deviations(cluster.summary(), expectation(base))
        variant = Variant(cluster, base, draft, prefixes)
        for dev in devs:
            variant.apply(dev)
        tell = _discriminator(cluster, devs, prefixes)
        if tell:
            draft.match["xpath"] = Block({tell: None})
            draft.guess("match", f"like {base.name}, told apart by <{tell}> (present in every message)")
        else:
            draft.match["route"] = name
            draft.guess("match", f"nothing in the messages tells them from {base.name}: give their route a name")
    else:
        required = {f.target for f in expectation(base).fields if f.required}
        Foreign(cluster, draft, prefixes, required).build()
        draft.guess("match", f"the cluster's own root; structure shared with {base.name} only by name")
    return draft


def example_members(paths: list[Path], keys: list[str]) -> dict[str, bytes]:
    """The bytes of the named members, streamed from the same INPUTs discover read."""
    wanted, found = set(keys), {}
    for member in Inputs(paths).members():
        if member.key in wanted and member.problem is None:
            found[member.key] = member.data
            if len(found) == len(wanted):
                break
    return found


def fixture_name(key: str) -> str:
    """A fixture's file name: the member's base name masked as reports mask it (an export's file names carry
    names and BSNs) plus a short digest of its whole key, so two members named alike (``2016/bericht.xml``,
    ``2017/bericht.xml``) never share a fixture; ``message`` for a member without a base name (``.``)."""
    base = re.sub(r"[^\w.-]", "_", mask_key(key.rsplit("/", 1)[-1], fill="x")).strip("._-")[:60] or "message"
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    stem, dot, ext = base.rpartition(".")
    return f"{stem}-{digest}.{ext}" if dot and stem else f"{base}-{digest}"


def write_fixture(fixtures: Path, key: str, data: bytes) -> Path:
    """Write one example under :func:`fixture_name`; a file already there (a hand-anonymised fixture) is never
    overwritten: the same bytes are reused, other bytes make the new one ``NAME-2`` (``-3`` ...)."""
    first = fixtures / fixture_name(key)
    stem, ext = (first.stem, first.suffix) if first.suffix else (first.name, "")
    for n in range(1, 1000):
        file = first if n == 1 else fixtures / f"{stem}-{n}{ext}"
        try:
            with file.open("xb") as out:
                out.write(data)
            return file
        except FileExistsError:
            if file.is_file() and not file.is_symlink() and file.read_bytes() == data:
                return file
    raise FileExistsError(f"{first.name}-2 to -999 all exist in {fixtures}")


def add_tests(draft: Draft, out: Path, examples: dict[str, bytes], registry: Registry) -> None:
    """Copy the examples next to the draft and generate a test per example from what the draft makes of it."""
    fixtures = out.parent / "fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    compiled = registry.get(out)
    for key, data in examples.items():
        if len(draft.tests) >= MAX_TESTS:
            break
        file = write_fixture(fixtures, key, data)
        rel = f"fixtures/{file.name}"
        if file.name != fixture_name(key):
            draft.notes.append(f"{rel}: another file had its name in fixtures/ and was left as it was")
        try:
            source = read(data, key)
            result = map_source(compiled, source.root, source=rel, track_unmapped=False)
        except (ConversionError, ValueError) as exc:
            draft.notes.append(f"{rel} does not convert with this draft yet: {reason(exc)}")
            continue
        values = flatten(result.bericht.model_dump(mode="json", exclude_none=True))
        expect = {k: UNCONFIRMED + v for k, v in list(values.items())[:MAX_EXPECT]}
        case: dict[str, Any] = {"name": f"example {file.name} (generated: confirm every value)", "input": rel}
        if "route" in draft.match:
            case["route"] = draft.match["route"]
        draft.tests.append({**case, "expect": expect})
    draft.notes.append("fixtures/ holds REAL messages from the vendor's export (BSNs, names, care data): anonymise "
                       "them, and the expected values below, before committing or sharing them")
