"""The fast entry-point scan finds exactly what importlib.metadata finds, on every layout.

Discovery reads the ``*.dist-info`` folders itself (importlib.metadata costs tens of ms at
every start). These tests install small distributions every way users do, into one
fresh virtual environment, and compare the scan with ``importlib.metadata`` there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from plugin_distributions import Dist, sdk_module, write_project

from metasync_llm.hookspecs import ENTRY_POINT_GROUP

# The venv holds the core without its dependencies (no index here): load the scanner
# without running the package's __init__, which imports pluggy.
COMPARE = f"""
import importlib.metadata, importlib.util, json, sys, types
spec = importlib.util.find_spec("metasync_llm")
package = types.ModuleType("metasync_llm")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["metasync_llm"] = package
from metasync_llm._plugins._entry_points import scan
group = {ENTRY_POINT_GROUP!r}
ours = sorted([ep.name, ep.value, ep.distribution] for ep in scan(sys.path, group))
theirs = sorted(
    [ep.name, ep.value, ep.dist.name if ep.dist else None]
    for ep in importlib.metadata.entry_points(group=group)
)
print(json.dumps({{"ours": ours, "theirs": theirs}}))
"""


def _dist(name: str, sdk: str, version: str = "1.0", module: str | None = None) -> Dist:
    module = module or name.replace("-", "_")
    return Dist(name, module, sdk_module("SDK", sdk), {sdk: f"{module}:SDK"}, version)


def _wheel(project: Path, out: Path, *, editable: bool = False) -> str:
    """Build ``project`` (a wheel, or an editable wheel) with this environment's hatchling."""
    hook = "build_editable" if editable else "build_wheel"
    done = subprocess.run(
        [sys.executable, "-c", f"import hatchling.build as b; print(b.{hook}({str(out)!r}))"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(out / done.stdout.strip().splitlines()[-1])


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            *args,
        ],
        check=True,
    )


@pytest.mark.slow
def test_the_scan_finds_what_importlib_metadata_finds_on_every_layout(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    projects, wheels = tmp_path / "projects", tmp_path / "wheels"
    wheels.mkdir()
    core = Path(__file__).resolve().parent.parent

    def wheel(dist: Dist, *, editable: bool = False, under: str = "") -> str:
        return _wheel(write_project(projects / under, dist), wheels, editable=editable)

    # site-packages: the core and a plugin, installed normally; a plugin installed editable
    _pip(python, _wheel(core, wheels), wheel(_dist("msl-site", "Site")))
    _pip(python, wheel(_dist("msl-editable", "Editable"), editable=True))
    # a folder on PYTHONPATH (pip --target), holding version 1 of a distribution ...
    target = tmp_path / "target"
    first = _dist("msl-twice", "Twice", "1.0", "msl_twice_one")
    _pip(python, "--target", str(target), wheel(first, under="one"))
    _pip(python, "--target", str(target), wheel(_dist("msl-tgt", "Tgt")))
    # ... and a second folder with version 2 of it, later on the path: the first wins
    later = tmp_path / "later"
    second = _dist("msl-twice", "Twice", "2.0", "msl_twice_two")
    _pip(python, "--target", str(later), wheel(second, under="two"))
    # a folder added by a .pth file in site-packages
    added = tmp_path / "added"
    _pip(python, "--target", str(added), wheel(_dist("msl-pth", "Pth")))
    (site / "msl_added.pth").write_text(f"{added}\n")

    done = subprocess.run(
        [str(python), "-c", COMPARE],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{target}:{later}", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["ours"] == found["theirs"]
    names = {name: value for name, value, _ in found["ours"]}
    assert {"test", "Site", "Editable", "Twice", "Tgt", "Pth"} <= set(names)
    assert names["Twice"] == "msl_twice_one:SDK", "the first copy on the path wins"


def test_a_zip_on_the_path_is_not_scanned(tmp_path: Path) -> None:
    """What the scan leaves out, as documented: metadata inside zip files."""
    from metasync_llm._plugins._entry_points import scan

    archive = tmp_path / "plugins.zip"
    import zipfile

    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("msl_zip-1.0.dist-info/METADATA", "Name: msl-zip\nVersion: 1.0\n\n")
        zipped.writestr(
            "msl_zip-1.0.dist-info/entry_points.txt", f"[{ENTRY_POINT_GROUP}]\nZip = msl_zip:SDK\n"
        )
    assert list(scan([str(archive)], ENTRY_POINT_GROUP)) == []
