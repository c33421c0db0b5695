"""The Dockerfile builds every native module ``native/build.py`` knows and ships each one.

CI cannot build the image (no registry to pull its base from), so this reads the recipe: a native module added
to ``native/build.py`` without its line in the Dockerfile would leave the image on the slower Python walk or
writer, and only its ready line would say so. The image build itself asserts both load (checked by building it
with podman on a stand-in base: docs/deploy-sidecar.md, docs/performance.md).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _sources() -> dict[str, Path]:
    spec = importlib.util.spec_from_file_location("native_build", ROOT / "native" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SOURCES  # type: ignore[no-any-return]


def test_the_build_stage_requires_every_native_module() -> None:
    assert "COPY native ./native" in RECIPE
    assert re.search(r"python native/build\.py --require\b", RECIPE), "a module that does not build must fail the image"


def test_every_native_module_is_copied_into_the_image_and_checked() -> None:
    sources = _sources()
    assert len(sources) == 2
    for name in sources:
        package, _, module = name.rpartition(".")
        folder = package.split(".", 1)[1]  # gateway.mapping -> mapping
        assert f"cp gateway/{folder}/{module}.*.so /native/{folder}/" in RECIPE, name
        assert f'cp /native/{folder}/*.so "$package/{folder}/"' in RECIPE, name
    assert "assert walkgen.NATIVE, walkgen.NATIVE_MISSING" in RECIPE
    assert "assert writers.native is not None, writers.MISSING" in RECIPE


def test_the_compiler_stays_in_the_build_stage() -> None:
    build, runtime = RECIPE.split("\nFROM ", 2)[1:]
    assert "apt-get install -y --no-install-recommends gcc" in build
    assert "apt-get" not in runtime and "gcc" not in runtime


def test_the_install_runs_again_whenever_the_build_stage_made_something_else() -> None:
    """buildah and podman key a RUN's cache on its command, not on what it bind-mounts: an image built after a
    change of the code reused the layer holding the previous code (seen this session). What the build stage
    made is hashed there and copied in before the install, so a change of any wheel or module rebuilds it."""
    build, runtime = RECIPE.split("\nFROM ", 2)[1:]
    assert "sha256sum /wheels/*.whl /native/*/*.so > /native/build.sha256" in build
    copied = runtime.index("COPY --from=build /native/build.sha256 ")
    assert copied < runtime.index("--mount=type=bind,from=build,source=/wheels")
