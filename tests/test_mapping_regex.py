"""The regexes of mapping files (``extract:``, ``replace:``) run on RE2 with Python's meaning: a sender's value
cannot make one backtrack for minutes, what RE2 cannot do is refused at ``mapping check`` with its line, and
what it can do gives what Python's ``re`` gives."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.mapping import MappingError, Registry
from gateway.mapping import transforms as tf
from gateway.mapping.regex import Regex

EXAMPLE = Path(__file__).resolve().parents[1] / "mappings" / "examples" / "vendor-extensions"
REDOS = r"^(\w+\s?)+$"


def with_applicatie(tmp_path: Path, transform: str) -> Path:
    """The vendor-extensions example with ``extra.applicatie`` read through ``transform``."""
    shutil.copytree(EXAMPLE, tmp_path / "m")
    path = tmp_path / "m" / "mapping.yaml"
    text = path.read_text(encoding="utf-8").replace("name: example-vendor-extensions", "name: vendor-regex")
    text = text.replace("extra.applicatie: m:Header/cs:Applicatie",
                        f"extra.applicatie: {{path: m:Header/cs:Applicatie, transform: {transform}}}")
    path.write_text(text[:text.index("tests:")], encoding="utf-8")
    return path


def test_a_backtracking_pattern_on_a_hostile_value_takes_microseconds(tmp_path: Path) -> None:
    """Python's re takes seconds on 24 characters and doubles with each more; RE2 is linear."""
    extract = tf.REGISTRY["extract"]
    pattern = extract.prepare(REDOS)
    started = time.perf_counter()
    with pytest.raises(tf.TransformError):
        extract.apply("a" * 24 + "!", pattern)
    assert extract.apply("a" * 100_000, pattern) == "a" * 100_000
    assert time.perf_counter() - started < 0.5


def test_convert_of_a_hostile_value_through_a_mapping_regex_is_quick(tmp_path: Path) -> None:
    path = with_applicatie(tmp_path, "{extract: '" + REDOS + "'}")
    fixture = (EXAMPLE / "fixtures" / "toewijzing.xml").read_text(encoding="utf-8")
    message = tmp_path / "s.xml"
    message.write_text(fixture.replace("CareSuite 7.2", "CareSuite" + "a" * 40 + "!"), encoding="utf-8")
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["convert", "--state", "none", "--no-validate", "--mapping", str(path),
                                       str(message), "--out", str(tmp_path / "out")])
    assert time.perf_counter() - started < 10
    assert result.exit_code == 1 and "extra.applicatie" in result.output and "does not match" in result.output


@pytest.mark.parametrize(("pattern", "construct"), [
    (r"(a)\1", "a backreference"),
    (r"(?=a)a", "a lookahead or lookbehind"),
    (r"(?<!x)a", "a negative lookahead or lookbehind"),
    (r"(?>a+)", "an atomic group"),
    (r"a++", "a possessive quantifier"),
])
def test_what_re2_cannot_do_is_refused_at_mapping_check_with_its_line(tmp_path: Path, pattern: str,
                                                                      construct: str) -> None:
    path = with_applicatie(tmp_path, "{extract: '" + pattern + "'}")
    with pytest.raises(MappingError) as err:
        Registry(files=[path]).get(str(path))
    (problem,) = err.value.problems
    assert (problem.file, problem.line) == (str(path), 37)
    assert problem.message.startswith(f"transform 'extract': {construct}")
    assert problem.message.endswith("is not supported: mapping regexes run on RE2, which never backtracks")


@pytest.mark.parametrize(("arg", "message"), [
    ({"pattern": r"\bvan\b", "with": ""}, "\\b and \\B are supported under (?a) only"),
    ({"pattern": r"[^\W\d]", "with": ""}, "\\W, \\S (or \\D under (?a)) inside [^...] is not supported by RE2"),
    ({"pattern": "a{2000}", "with": ""}, "a repetition count over 1000 is not supported by RE2"),
    ({"pattern": "(a)", "with": r"\2"}, "bad replacement '\\\\2': invalid group reference 2"),
    ({"pattern": "(a", "with": ""}, "bad regular expression: missing ), unterminated subpattern"),
])
def test_other_refusals_name_what_to_do(arg: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        tf.REGISTRY["replace"].prepare(arg)
    assert tf.REGISTRY["replace"].prepare({"pattern": r"(?a)\bvan\b", "with": ""})  # ASCII boundaries, as asked


PATTERNS = [r"[.\s]", r"\s+", r"\D", r"^(\S+)", r"(\d\d:\d\d)$", r"^([\d.,]+) uur ", r" per (\w+)$", r"\w+",
            r"(?i)abc", r"(?P<y>\d{4})-(?P<m>\d\d)", r"[^\w]+", r"[\W\d]", r"a{2,3}?", r"(?s:.)+", r"x*", r"\Z",
            r"(a|b|)c", r"(?x) a b  # c", r"[\S]+", r"(?m)^\w+$", r"(?i)É", r"(?a)\bvan\b", r"(?a)\w+", r"(x)?y",
            r"ë?", r"[\]\\^-]", r"(?i)[a-zé]+", "."]
TEXTS = ["D. H. R.", "  a\tb\u00a0c ", "2024-05-01 14:05", "2,5 uur per week", "Zoë van Dijk", "abcABC", "", "١٢٣",
         "ÉéÀ", "van der\nvan", "]\\^-", "y xy ëë 😀x"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_means_what_it_means_in_python(pattern: str) -> None:
    """Unicode \\w, \\d and \\s (RE2's are ASCII), \\Z, groups, flags and templates as Python has them."""
    ours = Regex(pattern)
    for text in TEXTS:
        theirs = re.search(pattern, text)
        mine = ours.search(text)
        assert (mine is None) == (theirs is None), text
        if theirs is not None and mine is not None:
            assert [mine.group(i) for i in range(ours.groups + 1)] == [theirs.group(i) for i in range(ours.groups + 1)]
        for repl in ("", "-", r"<\g<0>>", r"\n", "é"):
            assert ours.sub(repl, text) == re.sub(pattern, repl, text), (text, repl)


def test_unicode_classes_and_named_templates() -> None:
    assert Regex(r"^(\w+)").search("Zoë").group(1) == "Zoë"  # RE2's own \w would stop at ë
    assert Regex(r"\d+").search("nr ١٢٣").group(0) == "١٢٣"
    assert Regex(r"\s").sub("", "a\u00a0b\u2007c") == "abc"
    assert tf.REGISTRY["replace"].apply("2024-05", tf.REGISTRY["replace"].prepare(
        {"pattern": r"(?P<y>\d{4})-(?P<m>\d\d)", "with": r"\g<m>/\1"})) == "05/2024"


def test_the_shipped_mappings_regexes_all_compile_on_re2() -> None:
    root = Path(__file__).resolve().parents[1]
    files = [p for folder in ("mappings", "dialects") for p in (root / folder).rglob("*.yaml")
             if "extract:" in p.read_text(encoding="utf-8") or "replace:" in p.read_text(encoding="utf-8")]
    assert len(files) >= 2
    registry = Registry(files=files)
    for path in files:
        if "overstap-mapping:" in path.read_text(encoding="utf-8"):
            registry.get(str(path))
