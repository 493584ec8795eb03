"""Rendering the kustomizations under deploy/kubernetes, with or without kustomize.

``render`` runs the real kustomize (``kustomize build``, else ``kubectl kustomize``) when
one is installed. Where none is (Debian ships no kustomize; its kubectl is years old), it
falls back to ``render_here``: a small loader for exactly the features these
kustomizations use (``resources`` as files or folders, ``namespace``, ``labels`` pairs,
``images``, ``patches`` by path or inline as strategic merges: maps merged, lists of
named items merged by name, ``$patch: delete``). A test renders every overlay both ways
where kustomize is present, so the loader cannot drift from it unnoticed.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})


def kustomize_command() -> list[str] | None:
    """The real kustomize's render command, if one is installed."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render(folder: Path) -> list[Manifest]:
    """The manifests ``folder``'s kustomization renders (the real kustomize, if present)."""
    command = kustomize_command()
    if command is None:
        return render_here(folder)
    done = subprocess.run([*command, str(folder)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def render_here(folder: Path) -> list[Manifest]:
    """The manifests ``folder``'s kustomization renders, by this module's own loader."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    manifests: list[Manifest] = []
    for resource in spec.get("resources", []):
        path = folder / resource
        if path.is_dir():
            manifests += render_here(path)
        else:
            manifests += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for entry in spec.get("patches", []):
        text = (folder / entry["path"]).read_text() if "path" in entry else entry["patch"]
        manifests = _patched(manifests, yaml.safe_load(text))
    for manifest in manifests:
        _transform(manifest, spec)
    return manifests


def _transform(manifest: Manifest, spec: dict[str, Any]) -> None:
    metadata = manifest.setdefault("metadata", {})
    if "namespace" in spec and manifest["kind"] not in CLUSTER_SCOPED:
        metadata["namespace"] = spec["namespace"]
    for labels in spec.get("labels", []):
        metadata.setdefault("labels", {}).update(labels["pairs"])
    for image in spec.get("images", []):
        for container in _containers(manifest):
            if container.get("image", "").split(":")[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"


def _containers(manifest: Manifest) -> list[dict[str, Any]]:
    pod = manifest.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def _patched(manifests: list[Manifest], patch: Manifest) -> list[Manifest]:
    name = patch["metadata"]["name"]
    out = []
    for manifest in manifests:
        if manifest["kind"] == patch["kind"] and manifest["metadata"]["name"] == name:
            if patch.get("$patch") == "delete":
                continue
            manifest = _merge(manifest, patch)
        out.append(manifest)
    return out


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        merged_list = copy.deepcopy(base)
        names = [item["name"] for item in merged_list]
        added = []  # kustomize puts the patch's new items first
        for item in patch:
            if item["name"] in names:
                index = names.index(item["name"])
                merged_list[index] = _merge(merged_list[index], item)
            else:
                added.append(copy.deepcopy(item))
        return [*added, *merged_list]
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)
