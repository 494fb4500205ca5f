"""Small archives in the real CIFAR python format, for tests that cannot download CIFAR.

:func:`write_archive` writes ``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz``
with the members of the official archives (``cifar-10-batches-py/data_batch_1`` ...
``test_batch``, ``batches.meta``, ``readme.html``; ``cifar-100-python/train``, ``test``,
``meta``), each a protocol-2 pickle of a dict with the official keys (``data`` as a
``uint8`` array of shape ``(n, 3072)``: 1,024 red, then green, then blue values per
image, row by row; ``labels`` or ``fine_labels``/``coarse_labels``; ``filenames``;
``batch_label``), but only a few hundred random images.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lrlab.data import SOURCES, CifarSource


@dataclass
class Archive:
    """A written archive: where it is, its MD5, what it holds, and a source pointing at it."""

    path: Path
    md5: str
    train_x: np.ndarray  # (n, 3, 32, 32) uint8
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    source: CifarSource  # SOURCES[kind] with url=file://path and md5 of this file


def _member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(payload))


def _batch(images: np.ndarray, labels: np.ndarray, label_key: str, title: str) -> bytes:
    entry = {
        "batch_label": title,
        label_key: [int(v) for v in labels],
        "data": images.reshape(len(images), 3072),
        "filenames": [f"image_{i:05d}.png" for i in range(len(images))],
    }
    if label_key == "fine_labels":
        entry["coarse_labels"] = [int(v) // 5 for v in labels]
    return pickle.dumps(entry, protocol=2)


def write_archive(
    folder: Path, kind: str = "cifar10", n_train: int = 250, n_test: int = 50, seed: int = 0
) -> Archive:
    """Write a small ``kind`` archive (``"cifar10"`` or ``"cifar100"``) into ``folder``."""
    official = SOURCES[kind]
    num_classes = 10 if kind == "cifar10" else 100
    rng = np.random.default_rng(seed)
    train_x = rng.integers(0, 256, (n_train, 3, 32, 32), dtype=np.uint8)
    test_x = rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8)
    train_y = rng.integers(0, num_classes, n_train)
    test_y = rng.integers(0, num_classes, n_test)
    classes = [f"class_{i}" for i in range(num_classes)]
    base = official.folder
    path = Path(folder) / official.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        parts = np.array_split(np.arange(n_train), len(official.train_members))
        for member, idx in zip(official.train_members, parts, strict=True):
            payload = _batch(train_x[idx], train_y[idx], official.label_key, f"training {member}")
            _member(tar, f"{base}/{member}", payload)
        (test_member,) = official.test_members
        _member(tar, f"{base}/{test_member}", _batch(test_x, test_y, official.label_key, "test"))
        meta = {official.meta_key: classes}
        if kind == "cifar10":
            meta.update(num_cases_per_batch=len(parts[0]), num_vis=3072)
            _member(tar, f"{base}/readme.html", b"<html>test archive</html>")
        else:
            meta["coarse_label_names"] = [f"super_{i}" for i in range(20)]
        _member(tar, f"{base}/{official.meta_member}", pickle.dumps(meta, protocol=2))
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    source = replace(official, url=path.resolve().as_uri(), md5=md5)
    return Archive(path, md5, train_x, train_y, test_x, test_y, classes, source)


def corrupt_copy(archive: Archive, folder: Path) -> Path:
    """A copy of the archive with one byte flipped in the middle, in ``folder``."""
    data = bytearray(archive.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target = Path(folder) / archive.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(data))
    return target
