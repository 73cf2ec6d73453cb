"""The layer folder reader (a boundary module): an image's files read in place from the overlay2 graph driver.

When the engine keeps its images with the overlay2 graph driver on this very machine (Docker 20.10 to 28
without the containerd store, as root on Linux), each layer is a folder under its data root, and listing those
folders gives what `docker save` would stream, without the engine packing a tar of every byte. The
result is the payload `helpers.export.read_export` makes, entry for entry, as Docker's own tar of a
layer folder writes it (`pkg/archive` with the overlay whiteout format): a whiteout (a 0/0 character
device) becomes ``.wh.<name>``, an opaque folder gains ``.wh..wh..opq``, a file's second hard link is a
link of size 0, sockets are left out. `read_layers` answers None whenever it cannot be sure of that (another
store, a remote engine, folders it may not read); the caller then reads the export.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from .export import made_layers, without_implied_dirs

_OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque")
_WHITEOUT_DIR = ".wh..wh..opq"


def _opaque(path: str) -> bool:
    for name in _OPAQUE:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def folder_entries(folder: str) -> list[list]:
    """One layer folder's ``[path, size, type]`` entries, as `helpers.export.layer_entries` reads its tar.

    Walked as Go's ``filepath.Walk`` walks it (names sorted within each folder), so that the same hard link
    is the file and the others are links, as in Docker's tar.

    Raises:
        OSError: a folder or file could not be read.
    """
    entries, seen = [], set()

    def walk(real: str, path: str) -> None:
        if _opaque(real):
            entries.append([f"{path}/{_WHITEOUT_DIR}", 0, "file"])
        with os.scandir(real) as found:
            names = sorted(found, key=lambda e: e.name)
        for entry in names:
            inner, info = f"{path}/{entry.name}", entry.stat(follow_symlinks=False)
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                entries.append([inner, 0, "dir"])
                walk(entry.path, inner)
            elif stat.S_ISREG(mode):
                key = (info.st_dev, info.st_ino)
                if info.st_nlink > 1 and key in seen:
                    entries.append([inner, 0, "link"])
                else:
                    seen.add(key)
                    entries.append([inner, info.st_size, "file"])
            elif stat.S_ISLNK(mode):
                entries.append([inner, 0, "link"])
            elif stat.S_ISCHR(mode) and info.st_rdev == 0:
                entries.append([f"{path}/.wh.{entry.name}", 0, "file"])
            elif not stat.S_ISSOCK(mode):
                entries.append([inner, 0, "other"])

    walk(folder, "")
    return sorted(without_implied_dirs(entries))


def _config(data_root: str, image_id: str) -> dict | None:
    """The image's config as the overlay2 store keeps it, if this machine holds that very file: its digest is
    the image id, so a folder of another engine with the same paths is never taken for this one's."""
    algorithm, _, hexdigest = image_id.partition(":")
    path = Path(data_root, "image", "overlay2", "imagedb", "content", algorithm, hexdigest)
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return json.loads(raw) if algorithm == "sha256" and hashlib.sha256(raw).hexdigest() == hexdigest else None


def layer_folders(inspected: dict) -> list[str]:
    """The image's layer folders, base first, from the graph driver's answer (``LowerDir`` lists them top first)."""
    data = (inspected.get("GraphDriver") or {}).get("Data") or {}
    lower = [p for p in (data.get("LowerDir") or "").split(":") if p]
    return [*reversed(lower), data["UpperDir"]] if data.get("UpperDir") else []


def read_layers(image: str, inspected: dict, info: dict) -> dict | None:
    """The payload of `helpers.export.read_export` for ``image``, read from its layer folders, or None when they
    cannot stand in for the export here.

    Args:
        image: the name the files were asked for.
        inspected: the engine's inspect answer for the image.
        info: the engine's ``docker info`` answer (its graph driver, data root, native diff).
    """
    if inspected.get("GraphDriver", {}).get("Name") != "overlay2" or info.get("Driver") != "overlay2":
        return None
    status = dict(info.get("DriverStatus") or [])
    if status.get("Native Overlay Diff") != "true":
        return None  # the engine computes its diffs by comparing trees: its tars may differ from the folders
    if status.get("userxattr") != "true" and os.geteuid() != 0:
        return None  # opaque folders are marked in trusted.* attributes, which only root can read
    folders, diff_ids = layer_folders(inspected), inspected.get("RootFS", {}).get("Layers") or []
    config = _config(info.get("DockerRootDir", ""), inspected.get("Id", ""))
    if config is None or not folders or len(folders) != len(diff_ids):
        return None
    try:
        layers = [{"diff_id": diff_id, "member": folder, "created_by": step.get("created_by", ""),
                   "comment": step.get("comment", ""), "entries": folder_entries(folder)}
                  for folder, diff_id, step in zip(folders, diff_ids, made_layers(config, len(folders)))]
    except OSError:
        return None
    return {"image": image, "layout": "overlay2 folders", "layers": layers}
