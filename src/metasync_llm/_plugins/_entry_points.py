"""A fast scan for entry-point groups across the installed distributions on a path.

``importlib.metadata`` builds a distribution object per installed package and imports
``email``, ``zipfile`` and ``csv`` to do it; discovery runs at every process start, so
this reads what installers write directly: each ``*.dist-info`` / ``*.egg-info`` folder's
``entry_points.txt``, and ``METADATA`` / ``PKG-INFO`` only for the distributions that
declare the group.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator

from metasync_llm._record import Record


class EntryPoint(Record):
    """One entry point of the group, with the distribution that declares it."""

    __slots__ = ("name", "value", "distribution", "version")
    name: str
    value: str
    distribution: str | None
    version: str | None

    def __init__(
        self, name: str, value: str, distribution: str | None, version: str | None
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "version", version)

    def load(self) -> object:
        """Import the module and resolve the attribute path (``module:attr.attr``)."""
        module_name, _, attrs = self.value.partition(":")
        target: object = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            target = getattr(target, attr)
        return target


def _section(text: str, group: str) -> Iterator[tuple[str, str]]:
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            inside = line == f"[{group}]"
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.split("[", 1)[0].strip()  # drop "[extras]"


def _name_version(folder: str, metadata_dir: str) -> tuple[str | None, str | None]:
    name = version = None
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(
                os.path.join(metadata_dir, filename), encoding="utf-8", errors="replace"
            ) as f:
                for line in f:
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
                    elif not line.strip():
                        break  # the headers end at the first blank line
        except OSError:
            continue
        break
    if name is None:  # fall back on the folder name: name-version.dist-info
        stem = folder.rsplit(".", 1)[0]
        name, _, rest = stem.partition("-")
        version = version or rest.split("-", 1)[0] or None
    return name, version


def scan(path: Iterable[str], group: str) -> Iterator[EntryPoint]:
    """Every entry point of ``group`` declared by a distribution on ``path``, in path order.

    Finds what ``importlib.metadata.entry_points(group=group)`` finds for the folders on
    ``path`` (site-packages, ``--target`` folders, ``.pth`` additions, editable installs,
    whose metadata lives in site-packages): a distribution present in two folders counts
    once, the first one, as for an import. It does not look inside zip files on the path
    or ask custom import finders for metadata.
    """
    yield from scan_groups(path, (group,))[group]


def scan_groups(path: Iterable[str], groups: tuple[str, ...]) -> dict[str, list[EntryPoint]]:
    """:func:`scan` for several groups, reading each distribution's files once."""
    markers = [(group, f"[{group}]".encode()) for group in groups]
    found_eps: dict[str, list[EntryPoint]] = {group: [] for group in groups}
    seen: dict[str, set[str]] = {group: set() for group in groups}
    for entry in path:
        folder = entry or "."
        try:
            found = sorted(n for n in os.listdir(folder) if n.endswith(_METADATA_DIRS))
        except OSError:  # not a directory (a zip, a missing folder): nothing installed there
            continue
        for name in found:
            metadata_dir = f"{folder}/{name}"
            file = f"{metadata_dir}/entry_points.txt"
            # Most distributions have none: os.access answers without raising an OSError.
            if not os.access(file, os.F_OK):
                continue
            try:
                # bytes: most distributions declare other groups, and are never decoded
                with open(file, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            declared = [group for group, marker in markers if marker in data]
            if not declared:
                continue
            dist, version = _name_version(name, metadata_dir)
            key = _normalize(dist) if dist else metadata_dir
            text = data.decode("utf-8", "replace")
            for group in declared:
                if key in seen[group]:  # shadowed by the same distribution earlier on the path
                    continue
                seen[group].add(key)
                for ep_name, value in _section(text, group):
                    found_eps[group].append(EntryPoint(ep_name, value, dist, version))
    return found_eps


def _normalize(name: str) -> str:
    # PEP 503 normalization, as importlib.metadata compares distribution names.
    return name.lower().replace("-", "_").replace(".", "_")


_METADATA_DIRS = (".dist-info", ".egg-info")
