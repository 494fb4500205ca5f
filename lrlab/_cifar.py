"""CIFAR-10/100 for :func:`lrlab.data.load`: the official archives, downloaded with their
published MD5 checked, read straight out of the tar.gz and cached as ``uint8`` tensors.

Private: :mod:`lrlab.data` re-exports :class:`CifarSource`, :data:`SOURCES` and
:class:`ChecksumError`.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from lrlab._io import atomic_write

__all__ = ["SOURCES", "ChecksumError", "CifarSource", "cifar_tensors", "read_archive"]


@dataclass(frozen=True)
class CifarSource:
    """Where a CIFAR archive comes from and how it is laid out.

    Attributes
    ----------
    url : str
        Download address (any scheme ``urllib`` opens, including ``file://``).
    filename : str
        Name of the archive in the data folder.
    md5 : str
        Published MD5 of the archive.
    folder : str
        Top folder inside the archive.
    train_members, test_members : tuple of str
        Pickled batches inside ``folder``.
    label_key : str
        Key of the labels in each batch (``"labels"`` or ``"fine_labels"``).
    meta_member, meta_key : str
        Pickle with the class names, and its key.
    """

    url: str
    filename: str
    md5: str
    folder: str
    train_members: tuple[str, ...]
    test_members: tuple[str, ...]
    label_key: str
    meta_member: str
    meta_key: str


#: The official archives (https://www.cs.toronto.edu/~kriz/cifar.html) and their MD5s,
#: as published there and used by torchvision.
SOURCES: dict[str, CifarSource] = {
    "cifar10": CifarSource(
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        filename="cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        folder="cifar-10-batches-py",
        train_members=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_members=("test_batch",),
        label_key="labels",
        meta_member="batches.meta",
        meta_key="label_names",
    ),
    "cifar100": CifarSource(
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        filename="cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        folder="cifar-100-python",
        train_members=("train",),
        test_members=("test",),
        label_key="fine_labels",
        meta_member="meta",
        meta_key="fine_label_names",
    ),
}


class ChecksumError(OSError):
    """A file's MD5 differs from the published one."""


def md5_of(path: Path) -> str:
    """The MD5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path, md5: str) -> None:
    """Stream ``url`` into ``target``, checking the MD5 before the file takes its name."""
    from tqdm.auto import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != md5:
            raise ChecksumError(
                f"checksum mismatch for {target.name} downloaded from {url}: expected MD5 "
                f"{md5}, got {digest.hexdigest()}; the download was discarded"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _unpickle(archive: tarfile.TarFile, member: str) -> dict:
    f = archive.extractfile(member)
    if f is None:
        raise ValueError(f"{member} in the archive is not a file")
    # The batches were pickled by Python 2; latin1 maps their byte strings 1:1 to str.
    entry = pickle.load(f, encoding="latin1")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def read_archive(path: Path, source: CifarSource) -> dict:
    """Read the CIFAR batches straight out of the (checksum-verified) tar.gz."""
    blob = {}
    with tarfile.open(path, "r:gz") as archive:
        for split, members in (("train", source.train_members), ("test", source.test_members)):
            xs, ys = [], []
            for member in members:
                entry = _unpickle(archive, f"{source.folder}/{member}")
                xs.append(torch.from_numpy(entry["data"]).reshape(-1, 3, 32, 32))
                ys.append(torch.as_tensor(entry[source.label_key], dtype=torch.int64))
            blob[f"{split}_x"] = torch.cat(xs).to(torch.uint8).contiguous()
            blob[f"{split}_y"] = torch.cat(ys)
        meta = _unpickle(archive, f"{source.folder}/{source.meta_member}")
    blob["classes"] = [
        c.decode() if isinstance(c, bytes) else str(c) for c in meta[source.meta_key]
    ]
    return blob


def cifar_tensors(name: str, source: CifarSource, root: Path, download: bool) -> dict:
    """Training and test tensors and class names of a CIFAR set, from the cache in ``root``,
    else from the verified archive (downloaded first if missing and ``download``)."""
    cache = root / f"{name}.pt"
    if cache.is_file():
        blob = torch.load(cache, weights_only=True)
        if blob.get("md5") == source.md5:
            return blob
    archive = root / source.filename
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(
                f"{name} is not in {root.resolve()}: download {source.url} and put "
                f"{source.filename} in that folder, or call load({name!r}, download=True)"
            )
        _download(source.url, archive, source.md5)
    else:
        actual = md5_of(archive)
        if actual != source.md5:
            raise ChecksumError(
                f"checksum mismatch for {archive}: expected MD5 {source.md5}, got {actual}; "
                "delete the file and load again to download it afresh"
            )
    blob = {**read_archive(archive, source), "md5": source.md5}
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    atomic_write(cache, buffer.getvalue())
    return blob
