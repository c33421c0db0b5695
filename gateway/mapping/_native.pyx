# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The untraced walk of a plan's trie over libxml2's nodes, without an lxml proxy per element.

The generated Python walk (walkgen) asks lxml for a proxy object, a Clark tag string and a text string for
every element it passes, and records each leaf it reads in a set of proxies for the unmapped check. Here the
trie's tables are matched against each node's own name and namespace, only the texts the output keeps become
strings, proxies are made only for what Python code receives (a rule's source elements, a group's item), and
what was read or skipped is kept as node pointers in a :class:`Track`. It does exactly what the generated
walk's trie loop does (tests run both over the same messages and compare data, errors and unmapped values);
the generated function stays the fallback where this module is not built.

Safety: nothing here writes to the tree, and neither does the Python code a walk calls. A Track keeps the
proxy of every element a walk started from: lxml frees a node only with its document or, for a subtree taken
out of its document, when no proxy into that subtree is left, so the node pointers a Track holds stay valid
for as long as it does. Recursion follows the trie (the mapping file's depth), never the message's.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memset, strcmp, strlen

cimport lxml.includes.etreepublic as cetree
from lxml.includes.tree cimport xmlNode, XML_CDATA_SECTION_NODE, XML_ELEMENT_NODE, XML_TEXT_NODE

cdef object etree
from lxml import etree

cetree.import_lxml__etree()

cdef extern from *:
    """
    #ifndef OVERSTAP_NATIVE_SOURCE
    #define OVERSTAP_NATIVE_SOURCE ""
    #endif
    """
    const char* OVERSTAP_NATIVE_SOURCE

SOURCE = OVERSTAP_NATIVE_SOURCE.decode("ascii")
"""The SHA-256 of the .pyx this was built from (native/build.py): walkgen refuses a stale build."""

DEF TEXT = 0
DEF NESTED = 1
DEF NODE = 2
KINDS = (TEXT, NESTED, NODE)
"""walkplan's FAST_TEXT, FAST_NESTED, FAST_NODE as this module numbers them (walkgen checks they agree)."""


cdef class Entry:
    """What to do with one child tag of a trie node (walkplan's ``fast`` table entry, compiled)."""

    cdef bytes href_b
    cdef bytes name_b
    cdef const char* href  # NULL: the tag has no namespace
    cdef const char* name
    cdef int kind
    cdef object target  # TEXT, NESTED: the name the text is stored under
    cdef object segments  # NESTED: the segments of the dict it is stored in
    cdef Table sub  # NODE
    cdef object key  # NODE: the segment its children's output dict lies under, or None
    cdef bint spot_always  # NODE without children or groups: always a spot
    cdef tuple slots  # NODE: the found-list slots of the rules ending here
    cdef tuple groups  # NODE: (slot, target, walker) of each group whose items these are

    def __init__(self, str tag, int kind, object target=None, object segments=None, Table sub=None,
                 object key=None, bint spot_always=False, tuple slots=(), tuple groups=()):
        if tag.startswith("{"):
            href, _, local = tag[1:].partition("}")
            self.href_b = href.encode("utf-8")
            self.href = self.href_b
        else:
            local = tag
            self.href_b = None
            self.href = NULL
        self.name_b = local.encode("utf-8")
        self.name = self.name_b
        self.kind = kind
        self.target = target
        self.segments = segments
        self.sub = sub
        self.key = key
        self.spot_always = spot_always
        self.slots = slots
        self.groups = groups


cdef class Table:
    """The entries of one trie node, matched in order against a child's name, then its namespace (the names
    and namespaces also as C arrays: the scan touches no Python object)."""

    cdef list entries
    cdef Py_ssize_t count
    cdef bint walk  # False: the node has no children to walk (an empty table)
    cdef const char** names
    cdef const char** hrefs

    def __cinit__(self):
        self.names = self.hrefs = NULL

    def __init__(self, list entries):
        cdef Entry entry
        self.entries = entries
        self.count = len(entries)
        self.walk = self.count > 0
        self.names = <const char**>PyMem_Malloc((self.count + 1) * sizeof(char*))
        self.hrefs = <const char**>PyMem_Malloc((self.count + 1) * sizeof(char*))
        if self.names is NULL or self.hrefs is NULL:
            raise MemoryError()
        for i in range(self.count):  # pointers into the entries' bytes, which the list keeps alive
            entry = <Entry?>entries[i]
            self.names[i] = entry.name
            self.hrefs[i] = entry.href

    def __dealloc__(self):
        PyMem_Free(self.names)
        PyMem_Free(self.hrefs)


cdef inline Entry _find(Table table, xmlNode* c):
    cdef const char* href = NULL
    cdef const char* name = <const char*>c.name
    cdef const char* want
    if c.ns is not NULL:
        href = <const char*>c.ns.href
    for i in range(table.count):
        want = table.names[i]
        if want[0] != name[0] or strcmp(want, name) != 0:
            continue
        want = table.hrefs[i]
        if want is NULL:
            if href is NULL:
                return <Entry>table.entries[i]
        elif href is not NULL and strcmp(want, href) == 0:
            return <Entry>table.entries[i]
    return None


cdef dict _parent(dict out, tuple segments, fallback):
    """engine._parent in C: the dict that holds the last of ``segments``, made on the way where missing; where
    something other than a dict is in the way, the Python helper runs and fails as it always did."""
    cdef dict node = out
    for i in range(len(segments) - 1):
        segment = segments[i]
        child = node.get(segment)
        if child is None:
            child = {}
            node[segment] = child
        elif type(child) is not dict:
            return fallback(out, segments)
        node = <dict>child
    return node


cdef inline bint _has_child(xmlNode* c) noexcept:
    """lxml's ``len(el) > 0``: a child element, comment, processing instruction or entity reference."""
    cdef xmlNode* child = c.children
    while child is not NULL:
        if cetree._isElement(child):
            return True
        child = child.next
    return False


cdef inline bint _loose(xmlNode* c) noexcept:
    """A text or CDATA node with more than XML's blanks: among an element's children, a value beside them (or
    in a leaf a comment splits) that no walk reads. Unicode blanks count as text: the full scan decides."""
    cdef const unsigned char* at
    if c.type != XML_TEXT_NODE and c.type != XML_CDATA_SECTION_NODE:
        return False
    at = <const unsigned char*>c.content
    if at is NULL:
        return False
    while at[0] != 0:
        if at[0] != 32 and at[0] != 9 and at[0] != 10 and at[0] != 13:
            return True
        at += 1
    return False


cdef object _text(xmlNode* c, cetree._Document doc):
    """lxml's ``el.text``: no child, None; one text node, its content; anything else lxml answers itself."""
    cdef xmlNode* child = c.children
    if child is NULL:
        return None
    if child.type == XML_TEXT_NODE and child.next is NULL:
        return PyUnicode_DecodeUTF8(<const char*>child.content, strlen(<const char*>child.content), NULL)
    return cetree.elementFactory(doc, c).text


cdef class Track:
    """What one message's native walks read (leaves) and left for the unmapped check (spots), as node
    pointers; kept valid by the proxy of each element a walk started from (``roots``)."""

    cdef cetree._Document doc
    cdef list roots  # the proxy of each element a walk started from: keeps the walked nodes alive
    cdef xmlNode** spots
    cdef Py_ssize_t nspots, capspots
    cdef xmlNode** consumed
    cdef Py_ssize_t nconsumed, capconsumed
    cdef bint loose  # a walk passed text beside child elements: the full scan reports it

    def __cinit__(self):
        self.loose = False
        self.spots = NULL
        self.consumed = NULL
        self.nspots = self.capspots = self.nconsumed = self.capconsumed = 0

    def __dealloc__(self):
        PyMem_Free(self.spots)
        PyMem_Free(self.consumed)

    cdef int spot(self, xmlNode* c) except -1:
        return _push(&self.spots, &self.nspots, &self.capspots, c)

    cdef int consume(self, xmlNode* c) except -1:
        return _push(&self.consumed, &self.nconsumed, &self.capconsumed, c)

    def all_read(self, root, set consumed, list spots):
        """unmapped._all_read over this Track and the Python walks' ``consumed``/``spots`` together: True when
        the root has children, no element has attributes, no walk passed text beside child elements, and every
        leaf with text under a spot was read (a text node met below a spot sits beside elements or comments)."""
        cdef cetree._Element top = <cetree._Element?>root
        cdef xmlNode* node
        cdef xmlNode* stop
        if self.loose or not _has_child(top._c_node) or _any_attribute(top._c_node):
            return False
        if self.doc is None:
            self.doc = top._doc
        cdef _Read read = None
        for i in range(self.nspots + len(spots)):
            if i < self.nspots:
                node = self.spots[i]
            else:
                node = (<cetree._Element?>spots[i - self.nspots])._c_node
                if node.type != XML_ELEMENT_NODE:
                    continue  # a comment or processing instruction the Python walk passed
            if not _has_child(node):
                if read is None:
                    read = _Read(self, consumed)
                if not self._leaf_read(node, read):
                    return False
                continue
            stop = node
            node = node.children
            while node is not NULL:  # the elements below the spot, in document order
                if node.type == XML_ELEMENT_NODE:
                    if _has_child(node):
                        node = node.children
                        continue
                    if read is None:
                        read = _Read(self, consumed)
                    if not self._leaf_read(node, read):
                        return False
                elif _loose(node):
                    return False
                node = _after(node, stop)
        return True

    cdef bint _leaf_read(self, xmlNode* node, _Read read) except -1:
        """True when the leaf ``node`` was read, or has no text but blanks."""
        if read.has(node):
            return True
        text = _text(node, self.doc)
        return text is None or not text.strip()

    def materialise(self, set consumed, list spots):
        """Hand the pointers over to the Python structures as proxies, for the full unmapped scan."""
        for i in range(self.nconsumed):
            consumed.add(cetree.elementFactory(self.doc, self.consumed[i]))
        for i in range(self.nspots):
            spots.append(cetree.elementFactory(self.doc, self.spots[i]))
        self.nconsumed = self.nspots = 0


cdef class _Read:
    """Every node read, by a Track or by the Python walks (proxies), as an open-addressing set of pointers:
    built once per check, only when a spot has a leaf to look at."""

    cdef size_t* slots
    cdef size_t mask

    def __cinit__(self, Track track, set consumed):
        cdef Py_ssize_t size = 16
        while size < 2 * (track.nconsumed + len(consumed)):
            size *= 2
        self.slots = <size_t*>PyMem_Malloc(size * sizeof(size_t))
        if self.slots is NULL:
            raise MemoryError()
        memset(self.slots, 0, size * sizeof(size_t))
        self.mask = size - 1
        for i in range(track.nconsumed):
            self.add(track.consumed[i])
        for proxy in consumed:
            self.add((<cetree._Element?>proxy)._c_node)

    def __dealloc__(self):
        PyMem_Free(self.slots)

    cdef inline size_t _slot(self, xmlNode* node) noexcept:
        cdef size_t key = <size_t>node
        cdef size_t at = ((key >> 4) * <size_t>11400714819323198485ULL) & self.mask
        while self.slots[at] != 0 and self.slots[at] != key:
            at = (at + 1) & self.mask
        return at

    cdef inline void add(self, xmlNode* node) noexcept:
        self.slots[self._slot(node)] = <size_t>node

    cdef inline bint has(self, xmlNode* node) noexcept:
        return self.slots[self._slot(node)] != 0


cdef int _push(xmlNode*** nodes, Py_ssize_t* count, Py_ssize_t* capacity, xmlNode* c) except -1:
    """Append ``c`` to a growing array of node pointers."""
    cdef xmlNode** grown
    if count[0] == capacity[0]:
        grown = <xmlNode**>PyMem_Realloc(nodes[0], (capacity[0] * 2 + 16) * sizeof(xmlNode*))
        if grown is NULL:
            raise MemoryError()
        nodes[0] = grown
        capacity[0] = capacity[0] * 2 + 16
    nodes[0][count[0]] = c
    count[0] += 1
    return 0


cdef inline xmlNode* _after(xmlNode* node, xmlNode* top) noexcept:
    """The node after ``node`` and its subtree in document order, or NULL past the end of ``top``'s."""
    while node is not top:
        if node.next is not NULL:
            return node.next
        node = node.parent
    return NULL


cdef bint _any_attribute(xmlNode* top) noexcept:
    """True when ``top`` or an element below it has an attribute (namespace declarations are none)."""
    cdef xmlNode* node = top
    while node is not NULL:
        if node.type == XML_ELEMENT_NODE:
            if node.properties is not NULL:
                return True
            if node.children is not NULL:
                node = node.children
                continue
        node = _after(node, top)
    return False


cdef class Walker:
    """One plan's untraced run: the trie walked here, then the plan's remaining steps (generated Python)."""

    cdef Table table
    cdef object steps
    cdef Py_ssize_t nfound, nitems
    cdef object ambiguous
    cdef object parent_of

    def __init__(self, Table table, steps, Py_ssize_t nfound, Py_ssize_t nitems, ambiguous, parent_of):
        self.table = table
        self.steps = steps
        self.nfound = nfound
        self.nitems = nitems
        self.ambiguous = ambiguous
        self.parent_of = parent_of

    def __call__(self, ctx, dict o0, str prefix, st):
        cdef cetree._Element top = <cetree._Element?>ctx
        cdef Track track = None
        found = [None] * self.nfound
        items = [None] * self.nitems
        if st.track:
            track = st.native
            if track is None:
                track = Track()
                track.doc = top._doc
                track.roots = []
                st.native = track
            track.roots.append(ctx)
        if self.table.walk:
            self._walk(top._c_node, self.table, o0, prefix, st, track, top._doc, found, items)
        elif track is not None:
            track.spot(top._c_node)  # no walk goes through its children
        self.steps(ctx, o0, prefix, st, found, items)

    cdef int _walk(self, xmlNode* parent, Table table, dict out, str prefix, st, Track track,
                   cetree._Document doc, list found, list items) except -1:
        cdef xmlNode* c = parent.children
        cdef Entry entry
        cdef dict into
        cdef dict inner
        cdef bint fresh
        while c is not NULL:
            if c.type != XML_ELEMENT_NODE:  # the Python walk spots comments; text here is beside elements
                if track is not None and not track.loose and _loose(c):
                    track.loose = True
                c = c.next
                continue
            entry = _find(table, c)
            if entry is None:
                if track is not None:
                    track.spot(c)
            elif entry.kind != NODE:  # a fused leaf: its text is the value
                if _has_child(c):
                    raise self.ambiguous
                if track is not None:
                    track.consume(c)
                x = _text(c, doc)
                if x is not None:
                    x = x.strip()
                    if x:
                        into = out if entry.kind == TEXT else _parent(out, <tuple>entry.segments, self.parent_of)
                        if entry.target in into:
                            raise self.ambiguous
                        into[entry.target] = x
            else:
                if track is not None and (entry.spot_always or not _has_child(c)):
                    track.spot(c)
                if entry.slots or entry.groups:
                    self._collect(entry, c, prefix, st, doc, found, items)
                if entry.sub.walk:
                    if entry.key is None:
                        self._walk(c, entry.sub, out, prefix, st, track, doc, found, items)
                    else:
                        inner = out.get(entry.key)
                        fresh = inner is None
                        if fresh:
                            inner = {}
                        self._walk(c, entry.sub, inner, prefix, st, track, doc, found, items)
                        if fresh and inner:
                            out[entry.key] = inner
            c = c.next
        return 0

    cdef int _collect(self, Entry entry, xmlNode* c, str prefix, st, cetree._Document doc, list found,
                      list items) except -1:
        """``c`` is a source element of the rules ending here and an item of the groups here."""
        proxy = cetree.elementFactory(doc, c)
        for slot in entry.slots:
            got = found[slot]
            if got is None:
                found[slot] = [proxy]
            else:
                got.append(proxy)
        for slot, target, walker in entry.groups:
            bucket = items[slot]
            if bucket is None:
                bucket = items[slot] = []
            where = f"{prefix}{target}.{len(bucket)}"
            st.groups[where] = proxy.sourceline
            item = {}
            walker(proxy, item, where + ".", st)
            bucket.append(item)
        return 0
