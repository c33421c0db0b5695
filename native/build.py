"""Build the native trie walk (gateway/mapping/_native.pyx) in place, against the installed lxml's headers.

``make venv`` runs this after installing the dependencies; without a C compiler or Cython it says so and
exits 0, and the gateway runs its generated Python walk (same results, slower). ``--require`` makes a missing
build an error (CI: both walks must be tested).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "gateway" / "mapping" / "_native.pyx"


def build() -> None:
    import lxml
    from Cython.Build import cythonize
    from setuptools import Extension
    from setuptools.dist import Distribution

    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    extension = Extension("gateway.mapping._native", [str(SOURCE.relative_to(ROOT))],
                          include_dirs=lxml.get_include(), extra_compile_args=["-O2"],
                          define_macros=[("OVERSTAP_NATIVE_SOURCE", f'"{digest}"')])
    modules = cythonize([extension], compiler_directives={"language_level": "3"}, quiet=True,
                        include_path=lxml.get_include())
    dist = Distribution({"name": "overstap-native", "ext_modules": modules})
    command = dist.get_command_obj("build_ext")
    command.inplace = True
    command.build_temp = str(ROOT / "build" / "native")
    dist.run_command("build_ext")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--require", action="store_true", help="fail when the native walk cannot be built")
    args = parser.parse_args()
    os.chdir(ROOT)
    try:
        build()
    except Exception as exc:
        print(f"native walk not built ({type(exc).__name__}: {exc}); the generated Python walk runs instead",
              file=sys.stderr)
        return 1 if args.require else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
