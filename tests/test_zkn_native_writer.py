"""The native creeerZaak writer (``render/_zkn_native.pyx``) against the Python writer (``render/zkn_writer.py``).

test_render_guard.py runs every shape and every generated value through both; here every message the project
holds is converted with each write checked (one ledger, so creeerZaak, updateZaak and statuses all come up),
hostile text that only the final encoding refuses fails the same way in both, and a build that is stale or
switched off is not used.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from writers import checked, require_native, use_writer

from gateway.ingest import InputError
from gateway.mapping.errors import ConversionError
from gateway.pipeline import Converter
from gateway.render import RenderError, writers
from gateway.render import zkn_values as at
from gateway.render.guard import guarding
from gateway.render.schemas import OutputInvalid
from gateway.render.settings import Systeem
from gateway.zaken import CREEER, Operation

ROOT = Path(__file__).resolve().parents[1]


def _messages() -> list[Path]:
    paths = sorted(p for p in (ROOT / "tests" / "fixtures").rglob("*.xml") if p.is_file())
    reference = os.environ.get("OVERSTAP_REFERENCE_DIR")
    if reference and (Path(reference) / "samples" / "iwmo20-xml").is_dir():
        paths += sorted((Path(reference) / "samples" / "iwmo20-xml").glob("*.xml"))
    return paths


@pytest.mark.parametrize("validate", [True, False], ids=["guarded", "unguarded"])
def test_every_message_converts_to_the_same_bytes_with_either_writer(validate: bool,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    use_writer("native", monkeypatch)  # every write of the conversions below is made by both and compared
    converter = Converter(validate=validate)
    kinds: set[str] = set()
    for path in _messages():
        try:
            result = converter.convert(path.read_bytes(), path.name)
        except (InputError, ConversionError, RenderError, OutputInvalid):
            continue
        kinds.update(output.operation for output in result.outputs)
    assert kinds >= {"creeerZaak", "updateZaak", "actualiseerZaakstatus"}


def _creeer(geslachtsnaam: str) -> Operation:
    person = {"geslachtsnaam": geslachtsnaam, "voorvoegsel": None, "voorletters": "J", "voornamen": None,
              "geslacht": "1", "geboortedatum": "19850106", "geboortedatum_gebruik": None, "adres": None, "known": True}
    return Operation(CREEER, "0363T1", state={
        "identificatie": "0363T1", "omschrijving": "Wmo toewijzing 07A03", "registratiedatum": "20260101",
        "attrs": {"toelichting": None, "kenmerk": None, "resultaat": None, "startdatum": "20260101",
                  "einddatumGepland": None, "einddatum": None},
        "extra": {}, "zaaktype": {"code": "WMO", "omschrijving": "Wmo", "ingangsdatum": "20150101"},
        "initiator": {"bsn": "123456782", **person}, "uitvoerende": "12345678", "betrokkenen": [], "andere": []})


@pytest.mark.parametrize("guarded", [True, False])
def test_text_no_output_may_hold_fails_alike(guarded: bool) -> None:
    """A lone surrogate: the guard refuses it at its place; unguarded, only the final encoding does."""
    require_native()
    with guarding(guarded), pytest.raises(OutputInvalid if guarded else UnicodeEncodeError):
        checked(_creeer("Jansen\ud800"), (Systeem(), "0363"), (Systeem(), "0363"), "ref", "20260101000000000")
    assert checked(_creeer("Jansen & Zn <b>"), (Systeem(), "0363"), (Systeem(), "0363"), "ref",
                   "20260101000000000").count(b"Jansen &amp; Zn &lt;b&gt;") == 1


def test_a_stale_build_is_not_used(tmp_path: Path) -> None:
    require_native()
    source = tmp_path / "_zkn_native.pyx"
    source.write_text("# another version\n")
    native, why = writers._load(source)
    assert native is None and why is not None and "another version" in why
    assert writers._load()[0] is writers.native  # the current source: used


def test_the_native_writer_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(writers.ENV, "0")
    assert writers._load() == (None, f"{writers.ENV}=0")


def test_a_value_left_out_has_its_place_asked_whether_the_schema_requires_it() -> None:
    """No element the creeerZaak writes with ``_el`` is required by the schema today; the writer must still ask
    each place it leaves empty (``Place.absent``), the first time too, as the Python writer does."""
    require_native()
    op = _creeer("Jansen")
    assert op.state is not None
    op.state["identificatie"] = None
    at.IDENTIFICATIE._required = None  # as in a fresh process: the place has not looked it up yet
    with guarding(True):
        writers.native.write(op, (Systeem(), "0363"), (Systeem(), "0363"), "ref", "20260101000000000")
    assert at.IDENTIFICATIE._required is False


def test_two_bad_values_name_the_place_the_python_writer_names() -> None:
    """The guard names the first place that fails: both writers must check in one order."""
    require_native()
    op = _creeer("Jansen")
    assert op.state is not None
    op.state["attrs"]["kenmerk"] = [["1" * 500, "B" * 500]]
    with guarding(True), pytest.raises(OutputInvalid, match="ZKN:kenmerk/ZKN:kenmerk:"):
        checked(op, (Systeem(), "0363"), (Systeem(), "0363"), "ref", "20260101000000000")


@pytest.mark.parametrize("kenmerk", [[["K1"]], [[]], [("K1",)]], ids=["one-item", "empty", "tuple"])
def test_a_short_kenmerk_pair_fails_as_in_python(kenmerk: list) -> None:
    """The planner always makes pairs; a state from elsewhere may not: the same IndexError, never a read past
    the end of the pair (found by the review: compiled without bounds checks it crashed or wrote garbage)."""
    require_native()
    op = _creeer("Jansen")
    assert op.state is not None
    op.state["attrs"]["kenmerk"] = kenmerk
    for guarded in (True, False):
        with guarding(guarded), pytest.raises(IndexError):
            checked(op, (Systeem(), "0363"), (Systeem(), "0363"), "ref", "20260101000000000")


@pytest.mark.parametrize("where", ["resultaat", "geslachtsnaam"])
def test_a_value_that_cannot_be_cut_fails_with_pythons_words(where: str) -> None:
    require_native()
    op = _creeer("Jansen")
    assert op.state is not None
    if where == "resultaat":
        op.state["attrs"]["resultaat"] = 5
    else:
        op.state["initiator"]["geslachtsnaam"] = 5
    with guarding(False), pytest.raises(TypeError, match="'int' object is not subscriptable"):
        checked(op, (Systeem(), "0363"), (Systeem(), "0363"), "ref", "20260101000000000")
