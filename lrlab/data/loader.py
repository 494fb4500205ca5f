"""The reference input pipeline: torchvision transforms on PIL images through a
``DataLoader`` with worker processes, the way CIFAR is usually fed; ``lrlab bench train``
measures :class:`~lrlab.data.Dataset`'s device-resident batches against it."""

from __future__ import annotations

import torch

from lrlab import _check
from lrlab.data.dataset import Dataset

__all__ = ["torchvision_loader"]


class _PilImages(torch.utils.data.Dataset):
    """Images as torchvision's CIFAR10 serves them: one PIL image per item, then transforms."""

    def __init__(self, images, labels, transform):
        self.images = images.permute(0, 2, 3, 1).cpu().numpy()  # (n, h, w, c) like torchvision
        self.labels = labels.cpu().tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        image = self.images[i]
        image = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        return self.transform(image), self.labels[i]


def torchvision_loader(
    dataset: Dataset,
    split: str,
    batch_size: int,
    shuffle: bool = True,
    augment: bool = True,
    num_workers: int = 2,
    seed: int = 0,
) -> torch.utils.data.DataLoader:
    """The classic CPU input pipeline over the same images, for comparison.

    Per image on CPU worker processes: PIL image, ``RandomCrop(size, padding=4)`` and
    ``RandomHorizontalFlip()`` (when ``augment`` and the data set augments), ``ToTensor()``,
    ``Normalize(mean, std)``; batches come out in (pinned, on CUDA) CPU memory and must be
    copied to the device. ``lrlab bench train`` times it against :meth:`Dataset.batches`.

    Returns
    -------
    torch.utils.data.DataLoader
        Yielding ``(x, y)`` float32/int64 CPU tensors.
    """
    from torchvision import transforms

    split = dataset._split(split)
    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    steps = []
    if augment and dataset.augmentation == "crop+flip":
        size = dataset.input_shape[1:]
        steps += [transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip()]
    # ToTensor divides by 255; rescale the statistics to match data sets stored in other units.
    units = dataset.scale / 255.0
    mean, std = (dataset.mean * units).tolist(), (dataset.std * units).tolist()
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    images, labels = dataset.raw(split)
    return torch.utils.data.DataLoader(
        _PilImages(images, labels, transforms.Compose(steps)),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=dataset.device.type == "cuda",
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
