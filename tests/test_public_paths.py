"""Every import path the README, the guides and the seed name keeps working.

The package's tree moved implementation modules behind private names; what users were
told to import must still import. The paths are read from the documents themselves, so
a new example is covered the day it is written.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("plugins/*/README.md")),
]
SEED = ROOT.parent / "shared" / "reference" / "llm-sdk-plugin-system.md"
#: The seed's modules (``llm_sdks.X``) under this project's name.
SEED_MODULES = {
    "llm_sdks.base_sdk": "metasync_llm.base_sdk",
    "llm_sdks.registry": "metasync_llm.registry",
}
#: Dotted names in the documents that are not import paths: entry-point groups and the
#: OpenTelemetry attribute names.
NOT_PATHS = re.compile(
    r"metasync_llm\.(sdks|observers\b(?=`? group)|model|sdk|cost|outcome|attempts"
    r"|retry\.\w+|call_\w+)$"
)
_FROM = re.compile(r"from (metasync_llm\w*(?:\.\w+)*) import \(?([\w\s,]+?)\)?\s*(?:#|$|\n)", re.M)
_DOTTED = re.compile(r"`(metasync_llm\w*(?:\.\w+)+)")


def _imports() -> set[tuple[str, str]]:
    """``(module, name)`` pairs of every ``from metasync_llm... import name`` written."""
    found = set()
    for path in DOCUMENTS:
        for module, names in _FROM.findall(path.read_text(encoding="utf-8")):
            for written in names.replace("\n", " ").split(","):
                name = written.strip().split(" as ")[0]
                if name:
                    found.add((module, name))
    return found


def _dotted() -> set[str]:
    found = set()
    for path in DOCUMENTS:
        if "opentelemetry" in path.parts[-2]:  # span attribute names, not paths
            continue
        found.update(d for d in _DOTTED.findall(path.read_text(encoding="utf-8")))
    return {d.rstrip(".") for d in found if not NOT_PATHS.match(d.rstrip("."))}


def _seed() -> set[tuple[str, str]]:
    if not SEED.exists():
        return set()
    pairs = re.findall(r"from (llm_sdks\.\w+) import (\w+)", SEED.read_text(encoding="utf-8"))
    return {(SEED_MODULES[m], n) for m, n in pairs if m in SEED_MODULES}


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            value = getattr(value, attr)
        return value
    raise ModuleNotFoundError(dotted)


def test_the_documents_name_paths_to_check() -> None:
    names = {f"{m}.{n}" for m, n in _imports()} | _dotted()
    assert {
        "metasync_llm.complete_with_model",
        "metasync_llm.toolkit",
        "metasync_llm.chat_completions.ChatCompletionsSDK",
    } <= names


@pytest.mark.parametrize(("module", "name"), sorted(_imports() | _seed()))
def test_each_written_import_works(module: str, name: str) -> None:
    assert _resolve(f"{module}.{name}") is not None


@pytest.mark.parametrize("dotted", sorted(_dotted()))
def test_each_dotted_name_in_the_documents_resolves(dotted: str) -> None:
    _resolve(dotted)
