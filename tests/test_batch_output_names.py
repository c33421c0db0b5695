"""Output paths with their folders remembered (session 30, keys._output_folders): the same path for every key as the
one pass over a key's parts gave before, whatever came before it (a hit, a miss, another archive's folders)."""

from __future__ import annotations

import hashlib
import random

from gateway.batch import keys
from gateway.batch.keys import MAX_FOLDERS, output_path


def _before(key: str, output_name: str) -> str:
    """output_path as session 29 wrote it: every output's folders shallowed and tested part by part."""
    folders, _, last = key.rpartition("/")
    if len(folders.encode("utf-8")) > MAX_FOLDERS:
        label, _, inner = folders.partition("/")
        folders = f"{label}/~{hashlib.blake2b(inner.encode('utf-8'), digest_size=8).hexdigest()}"
    if folders:
        folders = "/".join(p + "~" if keys._XML_DIR.search(keys.folded(p)) else p for p in folders.split("/")) + "/"
    suffix = f".{keys._component(output_name.replace('/', '_').replace(chr(92), '_'))}.xml"
    room = keys.MAX_NAME - len(suffix.encode("utf-8"))
    if len(last.encode("utf-8")) > room:
        last = keys._shortened(last, room)
    return f"{keys.CONVERTED}/{folders}{last}{suffix}"


PARTS = ["a.xml", "A.XML", "b.xml~", "café", "cafe\u0301", "2016", "x.Xml~~", "d" * 199, "é" * 99, "%FF", "_",
         "%41", "~", "m.xml.d", ".xml", "ß.xml"]


def _keys(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        depth = rng.choice([0, 1, 2, 3, 12, 14])  # 12-14 parts of ~200 bytes pass MAX_FOLDERS
        pool = PARTS if depth < 12 else ["d" * 199, "é" * 99, "D" * 180 + ".xml"]
        parts = ["in.zip", *(rng.choice(pool) for _ in range(depth)), rng.choice(["m.xml", "N" * 230, "ü" * 120])]
        out.append("/".join(parts))
    return out


def test_every_output_path_is_the_one_the_parts_gave() -> None:
    rng = random.Random(30)
    names = ["0384T200001-301-u1-01-creeerZaak", "a/../b\\c", "é" * 60, "9" * 70]
    keys_ = _keys(rng, 600)
    assert any(len(k.rpartition("/")[0].encode()) > MAX_FOLDERS for k in keys_)  # the shallowed ones are drawn too
    for key in keys_ + keys_[::-1]:  # each twice: a miss, then (mostly) a hit
        for name in rng.sample(names, 2):
            assert output_path(key, name) == _before(key, name), (key, name)


def test_a_member_without_folders_and_the_deepest_folders() -> None:
    assert output_path("m.xml", "o") == "converted/m.xml.o.xml"
    deep = "in.zip/" + "/".join(["a.xml"] * 500) + "/m.xml"
    assert output_path(deep, "o") == _before(deep, "o")
    assert output_path(deep, "o").startswith("converted/in.zip/~")
