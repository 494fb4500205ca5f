"""CIFAR-10/100 for :func:`lrlab.data.load`: the official archives, downloaded with their
published MD5 checked, read straight out of the tar.gz and cached as ``uint8`` tensors.

The cache ``<name>.pt`` records the archive's MD5 and a SHA-256 of its tensors and class
names. It is used only when it loads, has the layout of a CIFAR set (``(n, 3, 32, 32)``
``uint8`` images, ``int64`` labels below the number of classes) and its tensors hash to
the recorded digest; otherwise it is derived again from the verified archive, with a
warning naming the file. The digest finds a damaged or edited cache; it is no signature
(whoever can write the folder can write a matching one, as they could change lrlab).

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
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from lrlab._io import atomic_write

__all__ = [
    "SOURCES",
    "ChecksumError",
    "CifarSource",
    "cifar_tensors",
    "read_archive",
    "tensor_digest",
]


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
        response = urllib.request.urlopen(url, timeout=60)
    except OSError as err:  # URLError, a timeout: offline, or the server is away
        reason = getattr(err, "reason", None) or err
        raise ConnectionError(
            f"cannot download {url}: {reason}; download it elsewhere and put "
            f"{target.name} into {target.parent.resolve()}"
        ) from None
    try:
        with response, open(partial, "wb") as out:
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
        try:
            blob = torch.load(cache, weights_only=True)
        except Exception as err:  # noqa: BLE001 - whatever the damage, the data are derived
            problem = f"it cannot be read ({type(err).__name__}: {err})"
        else:
            problem = _cache_problem(blob, source)
        if problem is None:
            return blob
        warnings.warn(
            f"{cache}: {problem}; deriving it again from the verified archive",
            RuntimeWarning,
            stacklevel=3,
        )
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
    blob = read_archive(archive, source)
    blob.update(md5=source.md5, sha256=tensor_digest(blob))
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    atomic_write(cache, buffer.getvalue())
    return blob


def tensor_digest(blob: dict) -> str:
    """SHA-256 of a CIFAR blob's tensors (their bytes, in a fixed order) and class names."""
    digest = hashlib.sha256()
    for key in ("train_x", "train_y", "test_x", "test_y"):
        digest.update(memoryview(blob[key].contiguous().numpy()).cast("B"))
    digest.update("\n".join(blob["classes"]).encode("utf-8"))
    return digest.hexdigest()


def _cache_problem(blob, source: CifarSource) -> str | None:
    """What disqualifies a loaded cache (another archive, a wrong layout, a digest that
    does not match its tensors), or None."""
    if not isinstance(blob, dict):
        return f"it holds a {type(blob).__name__}, not the tensors"
    if blob.get("md5") != source.md5:
        return "it was made from another archive"
    classes = blob.get("classes")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        return "its class names are missing"
    for split in ("train", "test"):
        x, y = blob.get(f"{split}_x"), blob.get(f"{split}_y")
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            return f"it lacks the {split} tensors"
        if x.dtype != torch.uint8 or x.dim() != 4 or tuple(x.shape[1:]) != (3, 32, 32):
            return f"its {split} images are {tuple(x.shape)} {x.dtype}, not (n, 3, 32, 32) uint8"
        if y.dtype != torch.int64 or tuple(y.shape) != (len(x),):
            return f"its {split} labels are {tuple(y.shape)} {y.dtype}, not ({len(x)},) int64"
        if len(y) and not (0 <= int(y.min()) and int(y.max()) < len(classes)):
            return f"its {split} labels are not all below {len(classes)} classes"
    if blob.get("sha256") != tensor_digest(blob):
        return "its tensors do not match their recorded SHA-256"
    return None
