"""Build the native parts in place: the trie walk (gateway/mapping/_native.pyx, against the installed lxml's
headers) and the creeerZaak writer (gateway/render/_zkn_native.pyx).

``make venv`` runs this after installing the dependencies; without a C compiler or Cython it says so and
exits 0, and the gateway runs its Python walk and writer (same results, slower). ``--require`` makes a missing
build an error (CI: both ways must be tested). Each build carries the SHA-256 of its source; a stale one is
refused where it is loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"gateway.mapping._native": ROOT / "gateway" / "mapping" / "_native.pyx",
           "gateway.render._zkn_native": ROOT / "gateway" / "render" / "_zkn_native.pyx"}


def build(name: str, source: Path) -> None:
    """One extension, built on its own: a part that does not compile leaves the other in place."""
    import lxml
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    extension = Extension(name, [str(source.relative_to(ROOT))], include_dirs=lxml.get_include(),
                          extra_compile_args=["-O2"], define_macros=[("OVERSTAP_NATIVE_SOURCE", f'"{digest}"')])
    modules = cythonize([extension], compiler_directives={"language_level": "3"}, quiet=True,
                        include_path=lxml.get_include())
    dist = Distribution({"name": "overstap-native", "ext_modules": modules})
    command = dist.get_command_obj("build_ext")
    command.inplace = True
    command.build_temp = str(ROOT / "build" / "native")
    dist.run_command("build_ext")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--require", action="store_true", help="fail when the native parts cannot be built")
    args = parser.parse_args()
    os.chdir(ROOT)
    failed = 0
    for name, source in SOURCES.items():
        try:
            build(name, source)
        except Exception as exc:
            failed += 1
            print(f"{name} not built ({type(exc).__name__}: {exc}); its Python counterpart runs instead",
                  file=sys.stderr)
    return 1 if failed and args.require else 0


if __name__ == "__main__":
    sys.exit(main())
