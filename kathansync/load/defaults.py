"""`_defaults.yaml` layers: which apply to a manifest, how they merge, and who owns a value."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kathansync.load.source import Source
from kathansync.tree import Loc, dotted, has, iter_leaves, overlay


class DefaultsChain:
    """The `_defaults` files between the manifests directory and a manifest, each read once."""

    def __init__(self, directory: Path, read_folder: Callable[[Path], Source | None]) -> None:
        self.top = directory.resolve()
        self.read_folder = read_folder
        self.cache: dict[Path, Source | None] = {}
        self.chains: dict[str, list[Source]] = {}  # by folder, spelt as the manifest's path
        self.folders: dict[Path, list[Path]] = {}

    def for_manifest(self, manifest_path: Path) -> list[Source]:
        """The _defaults files that apply to a manifest, outermost first."""
        # A string key: a Path's `parent` and its hash, per manifest, cost more than the rest.
        parent = os.path.dirname(manifest_path)
        if parent not in self.chains:
            chain = [self.in_folder(f) for f in self.folders_of(manifest_path)]
            self.chains[parent] = [source for source in chain if source is not None]
        return self.chains[parent]

    def folders_of(self, manifest_path: Path) -> list[Path]:
        """The folders whose _defaults files apply to a manifest (resolved), outermost first."""
        parent = manifest_path.parent
        if parent not in self.folders:  # resolved once a folder: resolve() is a syscall a part
            folder = parent.resolve()
            folders = [folder]
            while folder != self.top and self.top in folder.parents:
                folder = folder.parent
                folders.append(folder)
            self.folders[parent] = folders[::-1]
        return self.folders[parent]

    def in_folder(self, folder: Path) -> Source | None:
        if folder not in self.cache:
            self.cache[folder] = self.read_folder(folder)
        return self.cache[folder]


def merge(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Deep-merge, later layers win; mappings merge, anything else (lists too) replaces.

    The result shares no container with a defaults layer (laid under many manifests); a lone
    layer, the manifest's own fresh data, is returned as it is: nothing changes it after."""
    if len(layers) == 1:
        return layers[0]
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = overlay(merged, layer)
    return merged


def owner(loc: Loc, layers: list[Source]) -> Source:
    """The layer a merged value came from: the last one holding its (longest present) path."""
    for length in range(len(loc), 0, -1):
        for layer in reversed(layers):
            if has(layer.data, loc[:length]):
                return layer
    return layers[-1]


def provenance(desired: dict[str, Any], layers: list[Source]) -> tuple[set[str], dict[str, str]]:
    """(dotted leaves whose value came from ${VAR}, dotted leaf -> the _defaults file it came
    from) for the merged `desired` of the manifest `layers[-1]`."""
    sensitive: set[str] = set()
    origins: dict[str, str] = {}
    manifest = layers[-1]
    if len(layers) == 1 and not manifest.sensitive:
        return sensitive, origins  # the common case, and the whole walk for nothing
    for loc, _ in iter_leaves(desired):
        layer = owner(loc, layers)
        if layer.is_sensitive(loc):
            sensitive.add(dotted(loc))
        if layer is not manifest:
            origins[dotted(loc)] = layer.display
    return sensitive, origins
