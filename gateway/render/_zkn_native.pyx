# cython: language_level=3
"""The creeerZaak of :mod:`gateway.render.zkn_writer`, written into one byte buffer.

The Python writer makes a string for every element (an f-string of the tags and the value), keeps them in a
list, joins the list and encodes the result: ~130 strings and three copies of a 5 KB creeerZaak. Here the
constant tags are copied from C literals and each value's UTF-8 straight into one buffer, which becomes the
output's bytes. Everything else is the Python writer's own: the same value guard calls in the same order
(``place.match``, :func:`guard.text`, ``place.absent``), the same remembered heads, blocks and extraElementen
(its dicts, filled by its rules), and an updateZaak or actualiseerZaakstatus is handed to it whole. Tests
compare the two writers output by output and error by error (tests/test_zkn_native_writer.py); where this
module is not built, the Python writer runs (gateway/render/writers.py).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject_GetItem
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.string cimport memcpy

from gateway.zaken import CREEER

from . import guard
from . import zkn_values as at
from . import zkn_writer as py

cdef extern from *:
    """
    #ifndef OVERSTAP_NATIVE_SOURCE
    #define OVERSTAP_NATIVE_SOURCE ""
    #endif
    """
    const char* OVERSTAP_NATIVE_SOURCE

SOURCE = OVERSTAP_NATIVE_SOURCE.decode("ascii")
"""The SHA-256 of the .pyx this was built from (native/build.py): writers.py refuses a stale build."""

cdef object _ACTIVE = guard._ACTIVE
cdef object _text = guard.text
cdef object _parts = guard.parts
cdef type _Guarded = guard.Guarded
cdef dict HEADS = py.HEADS
cdef dict BLOCKS = py.BLOCKS
cdef str ZAAKNIVEAU = py.ZAAKNIVEAU
cdef dict WRITTEN = py.WRITTEN
cdef object REMEMBERED = py.REMEMBERED
cdef Py_ssize_t WRITTEN_MAX = py.WRITTEN_MAX
cdef dict ROLLEN = py.ROLLEN
cdef dict GESLACHT_STUF = py.GESLACHT_STUF
cdef dict DATUMGEBRUIK_STUF = py.DATUMGEBRUIK_STUF
cdef str NIL_ONBEKEND = py.NILS["waardeOnbekend"]
cdef str NIL_GEEN = py.NILS["geenWaarde"]
cdef object IDENTIFICATIE, OMSCHRIJVING, REGISTRATIEDATUM, KENMERK, KENMERK_BRON, RESULTAAT, ZAK_EXTRA, INITIATOR
cdef object AGB, REFERENTIENUMMER, TIJDSTIP_BERICHT, TOELICHTING, STARTDATUM, EINDDATUM_GEPLAND, EINDDATUM
(IDENTIFICATIE, OMSCHRIJVING, REGISTRATIEDATUM, KENMERK, KENMERK_BRON, RESULTAAT, ZAK_EXTRA, INITIATOR, AGB,
 REFERENTIENUMMER, TIJDSTIP_BERICHT) = [getattr(at, name) for name in (
    "IDENTIFICATIE", "OMSCHRIJVING", "REGISTRATIEDATUM", "KENMERK", "KENMERK_BRON", "RESULTAAT", "ZAK_EXTRA",
    "INITIATOR", "AGB", "REFERENTIENUMMER", "TIJDSTIP_BERICHT")]
TOELICHTING, STARTDATUM, EINDDATUM_GEPLAND, EINDDATUM = [at.ATTRIBUTES[name] for name in (
    "toelichting", "startdatum", "einddatumGepland", "einddatum")]
cdef dict RELATIONS = at.RELATIONS
cdef object FIRST_200 = slice(None, 200)
cdef object FIRST_80 = slice(None, 80)


cdef class Out:
    """The output's bytes as they are written, and the guard's mode: ``parts`` is the list class the Python
    helpers look at (:class:`guard.Guarded` when values are guarded)."""

    cdef char* buf
    cdef Py_ssize_t n, cap
    cdef bint guarded
    cdef object parts

    def __cinit__(self, bint guarded):
        self.cap = 8192
        self.n = 0
        self.buf = <char*>PyMem_Malloc(self.cap)
        if self.buf == NULL:
            raise MemoryError()
        self.guarded = guarded
        self.parts = _Guarded() if guarded else []

    def __dealloc__(self):
        PyMem_Free(self.buf)

    cdef int raw(self, const char* s, Py_ssize_t k) except -1:
        cdef Py_ssize_t cap
        cdef char* grown
        if self.n + k > self.cap:
            cap = self.cap
            while cap < self.n + k:
                cap *= 2
            grown = <char*>PyMem_Realloc(self.buf, cap)
            if grown == NULL:
                raise MemoryError()
            self.buf, self.cap = grown, cap
        memcpy(self.buf + self.n, s, k)
        self.n += k
        return 0

    cdef inline int lit(self, bytes b) except -1:
        return self.raw(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef inline int put(self, str s) except -1:
        cdef Py_ssize_t k
        cdef const char* p
        if s is None:  # never written by the writer's own parts; a bug must not read a NULL
            raise TypeError("the zkn writer has no text for a part")
        p = PyUnicode_AsUTF8AndSize(s, &k)
        return self.raw(p, k)

    cdef int wrap(self, bytes before, object value, bytes after) except -1:
        """A value between two constant parts (its tags, usually)."""
        self.lit(before)
        self.put(_s(value))
        return self.lit(after)

    cdef bytes result(self):
        return PyBytes_FromStringAndSize(self.buf, self.n)


cdef inline str _s(object value):
    """What the Python writer's f-string makes of a value (a value is a str but for the odd number)."""
    return value if type(value) is str else format(value, "")


cdef inline object _checked(Out out, object place, object value):
    """guard.text: a guarded value its place's fast path accepts is written as it is (no call for it)."""
    if out.guarded and place.match(value) is not None:
        return value
    return _text(out.parts, place, value)


cdef inline int _absent(Out out, object place) except -1:
    """Place.absent, called only where the place is not known to be optional (its answer is remembered)."""
    if out.guarded and place._required is not False:
        place.absent()
    return 0


cdef inline int _value(Out out, object place, object value) except -1:
    """``<tag>value</tag>`` at ``place``: the fast path's match, else guard.text (check and escape)."""
    if not out.guarded or place.match(value) is None:
        value = _text(out.parts, place, value)
    out.put(place.open)
    out.put(_s(value))
    return out.put(place.close)


cdef int _el(Out out, object place, object value, object missing=None) except -1:
    """zkn_writer._el: the value at ``place``, checked and escaped as there; else its noValue, or nothing."""
    if value:
        _value(out, place, value)
    elif missing:
        out.put(place.nil[missing])
    else:
        _absent(out, place)
    return 0


cdef int _person(Out out, object places, object person, object bsn) except -1:
    """zkn_writer._person of a person added (verwerkingssoort T)."""
    out.lit(b'<ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="T">')
    if bsn:
        _el(out, places.bsn, bsn)
    known = person.get("known")
    _el(out, places.geslachtsnaam, PyObject_GetItem(person.get("geslachtsnaam") or "", FIRST_200), "waardeOnbekend")
    _el(out, places.voorvoegsel, person.get("voorvoegsel"), "geenWaarde" if known else "waardeOnbekend")
    _el(out, places.voorletters, person.get("voorletters"), "waardeOnbekend")
    _el(out, places.voornamen, person.get("voornamen"), "waardeOnbekend")
    _el(out, places.geslacht, GESLACHT_STUF.get(person.get("geslacht") or ""), "waardeOnbekend")
    if person.get("geboortedatum"):
        indicator = DATUMGEBRUIK_STUF.get(person.get("geboortedatum_gebruik") or "", "V")
        value = _checked(out, places.geboortedatum, person["geboortedatum"])
        out.wrap(b'<BG:geboortedatum StUF:indOnvolledigeDatum="', indicator, b'">')
        out.wrap(b"", value, b"</BG:geboortedatum>")
    else:
        out.wrap(b"<BG:geboortedatum", NIL_ONBEKEND, b"/>")
    adres = person.get("adres")
    if adres:
        _group(out, "BG:verblijfsadres", adres, places.verblijfsadres)
    out.lit(b"</ZKN:natuurlijkPersoon>")
    return 0


cdef int _group(Out out, str tag, object adres, object layout) except -1:
    """zkn_writer._group: an address gegevensgroep, every element with its noValue where absent."""
    out.lit(b"<")
    out.put(tag)
    out.lit(b">")
    for place, key, missing in layout:
        value = adres.get(key) if key else None
        if value:
            _value(out, place, value)
        else:
            out.put(place.nil[missing])
    out.lit(b"</")
    out.put(tag)
    out.lit(b">")
    return 0


cdef int _extra(Out out, object places, object name, object value) except -1:
    """zkn_writer._extra: one name's extraElement(s), remembered by its rules."""
    values = value if isinstance(value, list) else [value]
    if not values:
        _checked(out, places.naam, name)
    for v in values:
        key = (id(places), name, v)
        written = WRITTEN.get(key)
        if written is None:
            naam = _checked(out, places.naam, name)
            if v is None:
                written = f'<StUF:extraElement naam="{naam}"{NIL_GEEN}/>'
            else:
                written = f'<StUF:extraElement naam="{naam}">{_checked(out, places.value, v)}</StUF:extraElement>'
            if name in REMEMBERED and out.guarded and len(WRITTEN) < WRITTEN_MAX:
                WRITTEN[key] = written
        out.put(written)
    return 0


cdef int _extras(Out out, object places, object values) except -1:
    """zkn_writer._extras: an entity's extraElementen (none at all when there are no values)."""
    if values:
        out.lit(b"<StUF:extraElementen>")
        mine = id(places)
        for name, value in values.items():
            written = WRITTEN.get((mine, name, value)) if type(value) is str else None
            if written is None:
                _extra(out, places, name, value)
            else:
                out.put(written)
        out.lit(b"</StUF:extraElementen>")
    return 0


cdef int _kenmerk(Out out, object pairs, Py_ssize_t count) except -1:
    pairs = pairs or []
    cdef Py_ssize_t i
    for i in range(count):
        if i < len(pairs):
            kenmerk = _checked(out, KENMERK, pairs[i][0])
            bron = _checked(out, KENMERK_BRON, pairs[i][1])
            out.wrap(b"<ZKN:kenmerk><ZKN:kenmerk>", kenmerk, b"</ZKN:kenmerk>")
            out.wrap(b"<ZKN:bron>", bron, b"</ZKN:bron></ZKN:kenmerk>")
        else:
            out.lit(b'<ZKN:kenmerk xsi:nil="true"/>')
    return 0


cdef int _python(Out out, object write, object arg) except -1:
    """A part the Python writer writes (a block or head not remembered yet: it remembers them by its rules)."""
    mine = _parts([])
    write(mine, arg)
    out.put("".join(mine))
    return 0


cdef int _betrokkene(Out out, object b) except -1:
    """zkn_writer._betrokkene of a relative added (T)."""
    tag, ent = ROLLEN[b["rol"]]
    places = RELATIONS[b["rol"]]
    out.lit(b"<ZKN:")
    out.put(tag)
    out.lit(b' StUF:entiteittype="')
    out.put(ent)
    out.lit(b'" StUF:verwerkingssoort="T"><ZKN:gerelateerde>')
    _person(out, places, b["persoon"], None)
    out.lit(b"</ZKN:gerelateerde>")
    _el(out, places.code, b["code"])
    _el(out, places.omschrijving, b["omschrijving"])
    _extras(out, places.extra, b["extra"])
    out.lit(b"</ZKN:")
    out.put(tag)
    out.lit(b">")
    return 0


cdef int _creeer(Out out, object state) except -1:
    """zkn_writer._creeer: the ZAK object of a creeerZaak."""
    a = state["attrs"]
    out.lit(b'<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="T">')
    _el(out, IDENTIFICATIE, state["identificatie"])
    _el(out, OMSCHRIJVING, state["omschrijving"])
    _el(out, TOELICHTING, a["toelichting"])
    _kenmerk(out, a["kenmerk"], len(a["kenmerk"] or []))
    resultaat = a["resultaat"]
    if resultaat:  # zkn_writer._attr of a resultaat that is there
        value = _checked(out, RESULTAAT, PyObject_GetItem(resultaat, FIRST_80))  # as Python slices (and fails)
        out.wrap(b"<ZKN:resultaat><ZKN:omschrijving>", value, b"</ZKN:omschrijving></ZKN:resultaat>")
    _el(out, STARTDATUM, a["startdatum"])
    _el(out, REGISTRATIEDATUM, state["registratiedatum"])
    _el(out, EINDDATUM_GEPLAND, a["einddatumGepland"])
    _el(out, EINDDATUM, a["einddatum"])
    out.put(ZAAKNIVEAU)
    _extras(out, ZAK_EXTRA, state["extra"])
    zkt = state["zaaktype"]
    block = BLOCKS.get(("isVan", "T", zkt["omschrijving"], zkt["code"], zkt["ingangsdatum"]))
    if block is None:
        _python(out, py._is_van, zkt)
    else:
        out.put(block)
    betrokkenen = state["betrokkenen"]
    for rol in ("belanghebbende", "gemachtigde"):
        for b in betrokkenen:
            if b["rol"] == rol:
                _betrokkene(out, b)
    initiator = state["initiator"]
    out.lit(b'<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="T"><ZKN:gerelateerde>')
    _person(out, INITIATOR, initiator, initiator["bsn"])
    out.lit(b"</ZKN:gerelateerde>")
    correspondentie = initiator.get("correspondentie")
    if correspondentie:
        _group(out, "ZKN:afwijkendCorrespondentieAdres", correspondentie, INITIATOR.correspondentie)
    _extras(out, INITIATOR.extra, initiator.get("extra") or {})  # its emailadres (ZDS 1.2 4.1.4.2)
    out.lit(b"</ZKN:heeftAlsInitiator>")
    uitvoerende = state.get("uitvoerende")
    if uitvoerende:
        agb = _checked(out, AGB, uitvoerende.zfill(17))
        out.wrap(b'<ZKN:heeftAlsUitvoerende StUF:entiteittype="ZAKBTRUTV" StUF:verwerkingssoort="T">'
                 b'<ZKN:gerelateerde><ZKN:nietNatuurlijkPersoon StUF:entiteittype="NNP" StUF:verwerkingssoort="T">'
                 b"<BG:ann.identificatie>", agb, b"</BG:ann.identificatie>")
        out.wrap(b"<BG:statutaireNaam", NIL_ONBEKEND, b"/></ZKN:nietNatuurlijkPersoon></ZKN:gerelateerde>"
                 b"<ZKN:omschrijving>Zorgaanbieder</ZKN:omschrijving></ZKN:heeftAlsUitvoerende>")
    for b in betrokkenen:
        if b["rol"] == "overig":
            _betrokkene(out, b)
    for andere in state["andere"]:  # a toewijzing's aanvraag, a 317's toewijzing: the Python writer's
        _python(out, py._andere, andere)
    out.lit(b"</ZKN:object>")
    return 0


cdef int _head(Out out, object zender, object ontvanger) except -1:
    head = HEADS.get((zender, ontvanger))
    if head is None:
        mine = _parts([])
        py._head(mine, zender, ontvanger)
        head = "".join(mine)
    out.put(head)
    return 0


def write(op, zender, ontvanger, referentienummer, moment, gezet_door=None):
    """zkn_writer.write: a creeerZaak written here, any other operation by the Python writer."""
    if op.kind != CREEER:
        return py.write(op, zender, ontvanger, referentienummer, moment, gezet_door)
    out = Out(_ACTIVE.get())
    try:
        _head(out, zender, ontvanger)
        ref = _checked(out, REFERENTIENUMMER, referentienummer)
        tijdstip = _checked(out, TIJDSTIP_BERICHT, moment)
        out.wrap(b"<StUF:referentienummer>", ref, b"</StUF:referentienummer>")
        out.wrap(b"<StUF:tijdstipBericht>", tijdstip, b"</StUF:tijdstipBericht><StUF:entiteittype>ZAK</StUF:entiteittype>"
                 b"</ZKN:stuurgegevens><ZKN:parameters><StUF:mutatiesoort>T</StUF:mutatiesoort>"
                 b"<StUF:indicatorOvername>V</StUF:indicatorOvername></ZKN:parameters>")
        assert op.state is not None
        _creeer(out, op.state)
        out.lit(b"</ZKN:zakLk01>\n")
    except UnicodeEncodeError:  # a lone surrogate, unguarded: the Python writer raises it as it always has
        return py.write(op, zender, ontvanger, referentienummer, moment, gezet_door)
    return out.result()
