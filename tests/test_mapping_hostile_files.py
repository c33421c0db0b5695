"""Hostile or careless files a vendor or integrator hands over: a YAML alias bomb, nesting too deep, a mapping
or value-map CSV saved in Latin-1, a CSV field past the csv module's limit, a CSV outside the mapping's folder,
a file past 8 MB, junk where the outbox should be.
Each is refused in one line naming the file (and line), quickly, never with a traceback or a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.mapping import MappingError, Registry, loader
from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import load as load_config

ROOT = Path(__file__).resolve().parents[1]
HEAD = "overstap-mapping: 1\nname: hostile\nextends: iwmo20-wmo301\n"


def laughs(levels: int = 9, prefix: str = "") -> str:
    """Ten lists of ten aliases of the list before: 10**levels values in a few hundred bytes."""
    lines = [f'{prefix}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{prefix}a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def check(path: Path) -> tuple[int, str, float]:
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["mapping", "check", str(path)])
    return result.exit_code, result.output, time.perf_counter() - started


def test_an_alias_bomb_is_refused_at_the_line_where_it_outgrows_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(HEAD + laughs() + "ignore: *a9\n")
    code, output, seconds = check(path)
    assert code == 1 and seconds < 5
    assert output.splitlines() == [f"{path}:8:5: YAML: this value stands for more than 100,000 values once its "
                                   "aliases are expanded (anchors and aliases are for reusing rule sets)"]


def test_the_limit_counts_the_expansion_not_the_file_and_leaves_real_anchors_alone() -> None:
    small = loader.load_yaml(laughs(3))  # a3 stands for 11,111 values: allowed
    assert len(small["a3"]) == 10 and small["a3"][0] is small["a2"]
    with pytest.raises(loader.YamlRefused, match="more than 100,000 values"):
        loader.load_yaml(laughs(4))  # a4: 111,111
    anchors = ROOT / "mappings" / "examples" / "dutch-formats" / "mapping.yaml"
    assert "<<: *" in anchors.read_text(encoding="utf-8")
    Registry(dirs=[], files=[anchors]).get(str(anchors))  # the documented anchors and merges still compile


def test_aliases_of_one_long_value_are_refused_by_the_text_they_stand_for(tmp_path: Path) -> None:
    """The final review's file: 19,000 aliases of one ignore item with a 2,000-step path stand for ~95,000 values,
    within the count, but for 38 MB of text, which the compiler took 55 s to go through. Refused by the text."""
    path = tmp_path / "long.yaml"
    long = "/".join(["x"] * 2000)
    path.write_text(HEAD + f"ignore:\n  - &i {{path: {long}, reason: r}}\n" + "  - *i\n" * 19_000)
    code, output, seconds = check(path)
    assert code == 1 and seconds < 5, (seconds, output[:300])
    assert output.splitlines() == [f"{path}:5:3: YAML: this value stands for more than 1,000,000 characters once "
                                   "its aliases are expanded (anchors and aliases are for reusing rule sets)"]
    fine = tmp_path / "fine.yaml"  # the same item a hundred times is 0.4 MB of text: allowed
    fine.write_text(HEAD + f"ignore:\n  - &i {{path: {long}, reason: r}}\n" + "  - *i\n" * 100)
    assert loader.load_yaml(fine.read_text())["ignore"][100]["path"] == long


def test_an_alias_loop_and_deep_nesting_are_refused_with_their_line() -> None:
    with pytest.raises(loader.YamlRefused, match="a node that contains it"):
        loader.load_yaml("a: &x\n  b: *x\n")
    assert loader.load_yaml("a: " + "[" * 60 + "1" + "]" * 60 + "\n")
    with pytest.raises(loader.YamlRefused, match="nested more than 64 levels deep") as err:
        loader.load_yaml("a: " + "[" * 70 + "1" + "]" * 70 + "\n")  # shallow enough to compose, too deep to walk
    assert err.value.problem_mark.line == 0
    x, y = "[" * 40 + "1" + "]" * 40, "[" * 30 + "*x" + "]" * 30  # 40 and 30 levels: 70 once the alias is expanded
    with pytest.raises(loader.YamlRefused, match="nested more than 64 levels deep"):
        loader.load_yaml(f"x: &x {x}\ny: {y}\n")


def test_nesting_past_what_the_parser_can_recurse_is_a_mapping_error_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "ignore: " + "[" * 5000 + "]" * 5000 + "\n")
    code, output, _ = check(path)
    assert code == 1
    assert output.splitlines() == [f"{path}:4:72: YAML: nested more than 64 levels deep"]


def test_tag_files_visits_a_shared_container_once() -> None:
    """Twenty levels of a list holding the level below twice: 2**20 containers expanded, 21 written."""
    visits = 0

    class Counting(loader.LocatedList):
        def __iter__(self):  # type: ignore[no-untyped-def]
            nonlocal visits
            visits += 1
            return super().__iter__()

    level = Counting(["leaf"])
    for _ in range(20):
        level = Counting([level, level])
    loader.tag_files(level, "f.yaml")
    assert visits == 21 and level[0][1].file == "f.yaml"  # type: ignore[attr-defined]


def test_a_sidecar_config_of_aliases_is_refused_not_substituted_for_ever(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("data_dir: data\n" + laughs(6, prefix="x_"))  # 10**6: unguarded, a second, not hours
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (f"{path}:6:7: not valid YAML: this value stands for more than 100,000 values once "
                              "its aliases are expanded (anchors and aliases are for reusing rule sets)")
    assert time.perf_counter() - started < 5
    result = CliRunner().invoke(main, ["shadow", "report", "--config", str(path)])
    assert result.exit_code == 2 and "more than 100,000 values" in result.output


def test_a_latin1_or_unreadable_sidecar_config_is_one_line(tmp_path: Path) -> None:
    """The sidecar's config is read as mapping files are: a byte that is not UTF-8 named with its line."""
    path = tmp_path / "serve.yaml"
    path.write_bytes('data_dir: data\n# caf\xe9\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:2:6: config files are UTF-8; byte 0xE9 at line 2 is not (save the file as UTF-8)"
    with pytest.raises(ConfigError, match=r"^.*nosuch\.yaml:1:1: cannot read: No such file or directory$"):
        load_config(tmp_path / "nosuch.yaml")


LATIN = HEAD + 'title: "caf\xe9"\n'


def test_a_latin1_mapping_file_is_one_line_naming_the_byte_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(LATIN.encode("latin-1"))
    code, output, _ = check(path)
    assert code == 1
    assert output.splitlines() == [f"{path}:4:12: mapping files are UTF-8; byte 0xE9 at line 4 is not "
                                   "(save the file as UTF-8)"]
    result = CliRunner().invoke(main, ["convert", "--state", "none", "--mapping", str(path), str(path),
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].endswith("byte 0xE9 at line 4 is not (save the file as UTF-8)")


def test_a_latin1_mapping_file_in_the_mapping_path_is_a_warning_not_a_crash(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "latin.yaml").write_bytes(LATIN.encode("latin-1"))
    monkeypatch.setenv("OVERSTAP_MAPPING_PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["mapping", "list"])
    assert result.exit_code == 0 and "iwmo20-wmo301" in result.output
    assert "warning: mapping not loaded: " in result.output and "byte 0xE9 at line 4 is not" in result.output


def csv_mapping(tmp_path: Path, csv: bytes) -> Path:
    (tmp_path / "codes.csv").write_bytes(csv)
    path = tmp_path / "m.yaml"
    path.write_text(HEAD + "value_maps:\n  codes:\n    csv: codes.csv\n")
    return path


def test_a_latin1_value_map_csv_is_a_problem_at_its_csv_line(tmp_path: Path) -> None:
    path = csv_mapping(tmp_path, "source,target\nHH-caf\xe9,02A01\n".encode("latin-1"))
    code, output, _ = check(path)
    assert code == 1
    assert output.splitlines() == [f"{path}:6:10: codes.csv: value map CSV files are UTF-8; byte 0xE9 at line 2 "
                                   "is not (save the file as UTF-8)"]


def test_a_csv_field_past_the_csv_modules_limit_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = csv_mapping(tmp_path, b'source,target\na,b\n"' + b"x" * 200_000 + b'",y\n')
    with pytest.raises(MappingError) as err:
        Registry(files=[path]).get(str(path))
    assert [str(p) for p in err.value.problems] == [
        f"{path}:6:10: codes.csv:3: cannot be read as CSV: field larger than field limit (131072)"]


@pytest.mark.parametrize("place", ["absolute", "dotdot", "link"])
def test_a_value_map_csv_outside_the_mapping_folder_is_refused_unread(tmp_path: Path, place: str) -> None:
    """Session 24: ``csv:`` read any local file and quoted its first column ("source code 'root' appears twice");
    it is held to the mapping file's folder as test inputs are, links followed."""
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("source,target\nGEHEIM,1\nGEHEIM,2\n")
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "link.csv").symlink_to(secret)
    spec = {"absolute": str(secret), "dotdot": "../elsewhere/secret.csv", "link": "link.csv"}[place]
    path = vendor / "m.yaml"
    path.write_text(HEAD + f"value_maps:\n  codes:\n    csv: {spec}\n")
    code, output, _ = check(path)
    assert code == 1 and "GEHEIM" not in output
    assert output.splitlines() == [f"{path}:6:10: CSV file {spec!r} leads out of the mapping file's folder: a value "
                                   "map's CSV file is in the mapping file's folder or below it, as its test inputs are"]
    (vendor / "sub").mkdir()  # below the folder is the mapping's own
    (vendor / "sub" / "codes.csv").write_text("source,target\nA,B\n")
    path.write_text(HEAD + "value_maps:\n  codes:\n    csv: sub/../sub/codes.csv\n")
    assert Registry(files=[path]).get(str(path)).name == "hostile"


def test_a_mapping_config_or_csv_past_8_mb_is_one_line_not_read_on(tmp_path: Path) -> None:
    """Session 24: mapping files, value map CSVs and configs were read whole, so ``--config /dev/zero`` or
    ``--mapping`` of an endless pipe grew until the process died (MemoryError, a traceback). Read up to 8 MB."""
    big = tmp_path / "big.yaml"
    big.write_bytes((HEAD + "#" * (8 * 1024 * 1024)).encode())
    code, output, seconds = check(big)
    assert code == 1 and seconds < 10
    assert output.splitlines() == [f"{big}:1:1: more than 8,388,608 bytes: mapping files are a few KB (expected at "
                                   "most 8,388,608)"]
    path = csv_mapping(tmp_path, b"source,target\n" + b"a,b\n" * (2 * 1024 * 1024 + 1))
    assert check(path)[1].splitlines() == [f"{path}:6:10: codes.csv: more than 8,388,608 bytes: value map CSV "
                                           "files are a few KB (expected at most 8,388,608)"]
    config = tmp_path / "serve.yaml"
    config.write_bytes(b"data_dir: data\n" + b"#" * (8 * 1024 * 1024))
    result = CliRunner().invoke(main, ["convert", "--out", str(tmp_path / "out"), "--state", "none", "--config",
                                       str(config), str(big)])
    assert result.exit_code == 2
    assert result.output == (f"error: --config {config}:1:1: more than 8,388,608 bytes: config files are a few KB "
                             "(expected at most 8,388,608)\n")


def test_shadow_report_on_junk_where_the_outbox_should_be_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "outbox.sqlite3").write_text("junk\n")
    result = CliRunner().invoke(main, ["shadow", "report", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (f"error: {tmp_path / 'outbox.sqlite3'}: not an outbox: SQLite says file is not a "
                             "database\n")


@pytest.mark.parametrize(("rules", "where"), [("1", "1:1"), ("[a, b]", "6:12"), ("true", "1:1"), ("x", "1:1")])
def test_a_group_s_rules_of_the_wrong_type_over_a_base_is_a_problem_not_a_traceback(tmp_path: Path, rules: str,
                                                                                     where: str) -> None:
    """Session 24: ``clients: {rules: 1}`` in a file that extends a dialect ended ``mapping check`` (and every load)
    in AttributeError inside the extends merge; it is kept as written so the compiler names it."""
    path = tmp_path / "m.yaml"
    path.write_text(HEAD + f"rules:\n  clients:\n    rules: {rules}\n")
    code, output, _ = check(path)
    assert code == 1 and "Traceback" not in output
    assert output.splitlines() == [f"{path}:{where}: rules: is a mapping of canonical field -> source"]  # a scalar
    # has no place of its own in the loaded tree: the file is named, the message says which key


@pytest.mark.parametrize(("key", "value", "shape"), [
    ("expect", "1", "a mapping of canonical field -> expected value"),
    ("expect", "[a]", "a mapping of canonical field -> expected value"),
    ("expect_unmapped", "true", "a list of source paths"),
    ("expect_warnings", "{a: b}", "a list of texts the warnings contain"),
    ("expect_error", "[a]", "the text the error contains, or a mapping of field, contains, line and code"),
    ("route", "[a]", "a route name"),
])
def test_a_test_case_value_of_the_wrong_type_is_a_problem_at_its_line(tmp_path: Path, key: str, value: str,
                                                                      shape: str) -> None:
    """Session 24: ``expect: 1`` or ``expect_unmapped: true`` passed ``mapping check`` and ended ``mapping test``
    in a traceback (AttributeError, TypeError). Both now name the key at its line and what it is."""
    example = ROOT / "mappings" / "examples" / "vendor-extensions"
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "toewijzing.xml").write_bytes((example / "fixtures" / "toewijzing.xml").read_bytes())
    path = tmp_path / "m.yaml"
    path.write_text(HEAD + f"tests:\n  - name: one\n    input: fixtures/toewijzing.xml\n    {key}: {value}\n")
    said = [f"{path}:7:{len(key) + 7}: {key}: is {shape}"]
    code, output, _ = check(path)
    assert (code, output.splitlines()) == (1, said)
    result = CliRunner().invoke(main, ["mapping", "test", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code != 0 and said[0] in result.output and "Traceback" not in result.output
