"""Tests of lrlab.data: the digits, the CIFAR download path (on small archives in the real
format), batches on the device and augmentation against torchvision."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from cifar_fixture import corrupt_copy, write_archive

import lrlab._cifar
from lrlab import data


@pytest.fixture(scope="module")
def images():
    """A CIFAR-shaped data set (random pixels) built directly."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (70, 3, 32, 32), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (70,), generator=gen)
    return data.Dataset("random", (x[:60], y[:60]), (x[60:], y[60:]), range(10), device="cpu")


def test_digits_are_the_real_digits_split_and_normalised(digits):
    from sklearn.datasets import load_digits

    assert (digits.name, digits.num_classes, digits.input_shape) == ("digits", 10, (1, 8, 8))
    assert digits.size("train") + digits.size("test") == 1797
    assert digits.size("test") == 450
    x, y = digits.tensors("train")
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-3
    # Every class is present in both splits (the split is stratified).
    assert set(y.tolist()) == set(digits.tensors("test")[1].tolist()) == set(range(10))
    # The stored pixels are scikit-learn's images, split without change.
    raw = torch.cat([digits.raw("train")[0], digits.raw("test")[0]]).reshape(1797, 64)
    reference = torch.from_numpy(load_digits().data.astype(np.uint8))
    assert sorted(map(tuple, raw.tolist())) == sorted(map(tuple, reference.tolist()))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'digits', 'mnist1d', 'cifar10', 'cifar100'.*'mnist'"):
        data.load("mnist")


def test_same_seed_gives_same_batches_and_each_example_once(images):
    first = list(images.batches("train", 16, seed=3))
    again = list(images.batches("train", 16, seed=3))
    other = list(images.batches("train", 16, seed=4))
    assert [len(y) for _, y in first] == [16, 16, 16, 12]
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(first[0][0], other[0][0])
    labels = torch.cat([y for _, y in first])
    assert sorted(labels.tolist()) == sorted(images.raw("train")[1].tolist())


def test_unshuffled_unaugmented_batches_are_the_tensors(images):
    x, y = images.tensors("test")
    batches = list(images.batches("test", 4, shuffle=False, augment=False))
    assert torch.equal(torch.cat([b[0] for b in batches]), x)
    assert torch.equal(torch.cat([b[1] for b in batches]), y)


def test_crop_flip_matches_torchvision_per_image():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (24, 3, 32, 32), generator=gen, dtype=torch.uint8)
    shifts = torch.randint(0, 9, (24, 2), generator=gen)
    flips = torch.rand(24, generator=gen) < 0.5
    out = data.crop_flip(x, shifts, flips, padding=4)
    for i in range(24):
        padded = TF.pad(x[i], [4])
        ref = TF.crop(padded, int(shifts[i, 0]), int(shifts[i, 1]), 32, 32)
        ref = TF.hflip(ref) if flips[i] else ref
        assert torch.equal(out[i], ref)


def test_augmented_batch_holds_crops_and_flips_of_the_originals(images):
    order_x, order_y = next(images.batches("train", 60, augment=False, seed=7))
    aug_x, aug_y = next(images.batches("train", 60, augment=True, seed=7))
    assert torch.equal(order_y, aug_y) and not torch.equal(order_x, aug_x)
    # Each augmented image is one of the 9 x 9 x 2 crops/flips of its original.
    raw = images.raw("train")[0]
    grid = torch.tensor([(dy, dx, f) for dy in range(9) for dx in range(9) for f in (0, 1)])
    for i in range(10):
        source = raw[(images.normalize(raw) == order_x[i]).flatten(1).all(1)]
        candidates = data.crop_flip(
            source.expand(len(grid), -1, -1, -1), grid[:, :2], grid[:, 2] == 1
        )
        matches = (images.normalize(candidates) == aug_x[i]).flatten(1).all(1)
        assert matches.any()


def test_digits_augment_changes_nothing(digits):
    plain = next(digits.batches("train", 64, augment=False, seed=1))[0]
    augmented = next(digits.batches("train", 64, augment=True, seed=1))[0]
    assert digits.augmentation is None and torch.equal(plain, augmented)


def test_torchvision_pipeline_normalises_like_the_device_loader(digits, images):
    for dataset in (digits, images):
        loader = data.torchvision_loader(dataset, "test", 1000, False, False, num_workers=0)
        x, y = next(iter(loader))
        ref_x, ref_y = dataset.tensors("test")
        torch.testing.assert_close(x, ref_x, atol=1e-5, rtol=0)
        assert torch.equal(y, ref_y)


def test_bad_arguments_raise_before_work(images):
    with pytest.raises(ValueError, match="split must be one of"):
        images.size("valid")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        images.batches("train", 0)
    with pytest.raises(ValueError, match="uint8"):
        data.Dataset(
            "bad",
            (torch.zeros(2, 1, 4, 4, dtype=torch.float64), torch.zeros(2)),
            (None, None),
            ["a"],
        )
    with pytest.raises(ValueError, match="uint8 or float32"):
        data.Dataset("bad", (torch.zeros(2, 16), torch.zeros(2)), (None, None), ["a"])
    with pytest.raises(ValueError, match=r"labels must be an integer <= 1, got 2"):
        x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
        data.Dataset("bad", (x, torch.tensor([0, 2])), (x, torch.tensor([0, 1])), ["a", "b"])


@pytest.mark.parametrize("kind", ["cifar10", "cifar100"])
def test_cifar_downloads_verifies_and_caches(kind, tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "mirror", kind)
    monkeypatch.setitem(data.SOURCES, kind, archive.source)
    root = tmp_path / "cache"
    loaded = data.load(kind, root=root, device="cpu")
    assert loaded.num_classes == (10 if kind == "cifar10" else 100)
    assert loaded.classes == archive.classes and loaded.input_shape == (3, 32, 32)
    assert np.array_equal(loaded.raw("train")[0].numpy(), archive.train_x)
    assert np.array_equal(loaded.raw("train")[1].numpy(), archive.train_y)
    assert np.array_equal(loaded.raw("test")[0].numpy(), archive.test_x)
    assert sorted(p.name for p in root.iterdir()) == sorted([archive.path.name, f"{kind}.pt"])

    # The second load reads the uint8 cache, not the archive.
    def no_archive(*args):
        raise AssertionError("the archive was read again")

    monkeypatch.setattr(lrlab._cifar, "read_archive", no_archive)
    again = data.load(kind, root=root, device="cpu", download=False)
    assert torch.equal(again.raw("train")[0], loaded.raw("train")[0])


def test_corrupted_download_names_file_and_hashes_and_leaves_nothing(tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "mirror")
    bad = corrupt_copy(archive, tmp_path / "bad")
    source = dataclasses.replace(archive.source, url=bad.resolve().as_uri())
    monkeypatch.setitem(data.SOURCES, "cifar10", source)
    root = tmp_path / "cache"
    with pytest.raises(data.ChecksumError) as err:
        data.load("cifar10", root=root, device="cpu")
    bad_md5 = __import__("hashlib").md5(bad.read_bytes()).hexdigest()
    message = str(err.value)
    assert "cifar-10-python.tar.gz" in message and archive.md5 in message and bad_md5 in message
    assert list(root.iterdir()) == []


def test_corrupted_local_archive_is_refused_without_cache(tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "mirror")
    monkeypatch.setitem(data.SOURCES, "cifar10", archive.source)
    root = tmp_path / "cache"
    bad = corrupt_copy(archive, root)
    with pytest.raises(data.ChecksumError, match=archive.md5) as err:
        data.load("cifar10", root=root, device="cpu", download=False)
    assert str(bad) in str(err.value)
    assert [p.name for p in root.iterdir()] == [bad.name]


def test_missing_data_without_download_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load("cifar100", root=tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path.resolve()) in message and "cifar-100-python.tar.gz" in message
    assert data.SOURCES["cifar100"].url in message


def test_official_sources_are_the_published_archives():
    """URLs and MD5s as published on https://www.cs.toronto.edu/~kriz/cifar.html."""
    assert data.SOURCES["cifar10"].url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert data.SOURCES["cifar10"].md5 == "c58f30108f718f92721af3b95e74349a"
    assert data.SOURCES["cifar100"].md5 == "eb9058c3a382ffc7106e4002c42a8d85"


# --- MNIST-1D -----------------------------------------------------------------------------


def test_mnist1d_is_the_packages_standard_dataset(mnist1d):
    """Greydanus (2020): 4,000 + 1,000 sequences of length 40, 10 classes, the package's seed."""
    from mnist1d.data import get_dataset_args, make_dataset

    reference = make_dataset(get_dataset_args())
    x, y = mnist1d.raw("train")
    np.testing.assert_array_equal(x[:, 0].numpy(), reference["x"].astype(np.float32))
    np.testing.assert_array_equal(y.numpy(), reference["y"])
    x_test, y_test = mnist1d.raw("test")
    np.testing.assert_array_equal(x_test[:, 0].numpy(), reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(y_test.numpy(), reference["y_test"])
    assert mnist1d.input_shape == (1, 40) and mnist1d.num_classes == 10


def test_mnist1d_batches_are_standardised_by_the_training_split(mnist1d):
    x, _ = mnist1d.tensors("train")
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-3
    raw, _ = mnist1d.raw("train")
    np.testing.assert_allclose(x.numpy(), ((raw - mnist1d.mean) / mnist1d.std).numpy(), atol=1e-6)


def test_mnist1d_loading_leaves_global_random_state_alone(tmp_path):
    """The mnist1d package reseeds NumPy's global generator; load must not leak that."""
    state = np.random.get_state()  # noqa: NPY002 - the legacy global state is what leaks
    data.load("mnist1d", root=tmp_path, device="cpu")  # generates (empty cache)
    after = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(after[1], state[1])
    assert after[2] == state[2]


def test_mnist1d_is_cached_and_the_cache_is_used(tmp_path, monkeypatch):
    first = data.load("mnist1d", root=tmp_path, device="cpu")
    assert (tmp_path / "mnist1d.pt").is_file()
    import lrlab._mnist1d

    def fail():
        raise AssertionError("generated again despite the cache")

    monkeypatch.setattr(lrlab._mnist1d, "generate", fail)
    second = data.load("mnist1d", root=tmp_path, device="cpu")
    assert torch.equal(first.raw("test")[0], second.raw("test")[0])
