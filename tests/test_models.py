"""Tests of lrlab.models.small and lrlab.models.resnet: shapes, gradients, parameter counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import models
from lrlab.models import resnet, small


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_bn(fan_in: int, fan_out: int, k: int = 3) -> int:
    """Parameters of a bias-free k x k convolution followed by BatchNorm (scale and shift)."""
    return k * k * fan_in * fan_out + 2 * fan_out


def basic_block(fan_in: int, fan_out: int, projection: bool) -> int:
    shortcut = conv_bn(fan_in, fan_out, k=1) if projection else 0
    return conv_bn(fan_in, fan_out) + conv_bn(fan_out, fan_out) + shortcut


def he_cifar_resnet_count(depth: int, classes: int = 10) -> int:
    """He et al. (2016), section 4.2: 16/32/64 channels, n blocks each, option-A shortcuts."""
    n = (depth - 2) // 6
    total = conv_bn(3, 16)
    for fan_in, width in ((16, 16), (16, 32), (32, 64)):
        total += basic_block(fan_in, width, False) + (n - 1) * basic_block(width, width, False)
    return total + 64 * classes + classes


def resnet18_count(classes: int = 10) -> int:
    total = conv_bn(3, 64)
    for fan_in, width in ((64, 64), (64, 128), (128, 256), (256, 512)):
        total += basic_block(fan_in, width, fan_in != width) + basic_block(width, width, False)
    return total + 512 * classes + classes


@pytest.mark.parametrize(
    ("depth", "paper_millions", "documented"),
    [(20, 0.27, 269_722), (56, 0.85, 853_018), (110, 1.7, 1_727_962)],
)
def test_cifar_resnet_param_counts_match_he_et_al(depth, paper_millions, documented):
    """He et al. 2016, Table 6: 0.27M, 0.85M and 1.7M parameters."""
    model = models.build(f"resnet{depth}", 10)
    assert n_params(model) == he_cifar_resnet_count(depth) == documented
    assert f"{documented:,}" in resnet.BUILDERS[f"resnet{depth}"].__doc__
    assert round(n_params(model) / 1e6, 2 if depth < 100 else 1) == paper_millions


def test_resnet18_param_count_is_documented():
    assert n_params(models.build("resnet18", 10)) == resnet18_count(10) == 11_173_962
    assert n_params(models.build("resnet18", 100)) == resnet18_count(100) == 11_220_132
    assert "11,173,962" in resnet.resnet18.__doc__ and "11,220,132" in resnet.resnet18.__doc__


@pytest.mark.parametrize(
    ("name", "shape", "documented"),
    [
        ("mlp", (1, 8, 8), 85_002),
        ("mlp", (3, 32, 32), 855_050),
        ("small_cnn", (1, 8, 8), 94_186),
        ("small_cnn", (3, 32, 32), 94_762),
    ],
)
def test_small_model_param_counts_are_documented(name, shape, documented):
    model = models.build(name, 10, shape)
    assert n_params(model) == documented
    assert f"{documented:,}" in small.BUILDERS[name].__doc__
    if name == "mlp":  # closed form: sum of fan_in * fan_out + fan_out
        widths = [shape[0] * shape[1] * shape[2], 256, 256, 10]
        assert documented == sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
    else:
        c = shape[0]
        assert documented == conv_bn(c, 32) + conv_bn(32, 64) + conv_bn(64, 128) + 128 * 10 + 10


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("mlp", (1, 8, 8)),
        ("small_cnn", (1, 8, 8)),
        ("small_cnn", (3, 32, 32)),
        ("resnet18", (3, 32, 32)),
        ("resnet20", (3, 32, 32)),
        ("resnet56", (3, 16, 16)),  # any size works (global pooling); smaller is faster
    ],
)
def test_forward_backward_gives_logits_and_gradients(name, shape):
    torch.manual_seed(0)
    model = models.build(name, 7, shape)
    x = torch.randn(2, *shape)
    logits = model(x)
    assert logits.shape == (2, 7)
    nn.functional.cross_entropy(logits, torch.tensor([0, 6])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_resnet110_builds_and_runs_forward():
    model = models.build("resnet110", 100).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert sum(isinstance(m, resnet.BasicBlock) for m in model.modules()) == 54


def test_resnet18_is_the_cifar_variant():
    """3x3 stride-1 stem, no max-pool: the first stage sees the full 32x32 image."""
    model = models.build("resnet18")
    stem = model.stem[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    seen = []

    def record(module, inputs, output):
        seen.append(tuple(output.shape))

    model.stages[0].register_forward_hook(record)
    model.eval()(torch.zeros(1, 3, 32, 32))
    assert seen == [(1, 64, 32, 32)]


def test_option_a_shortcut_subsamples_and_zero_pads():
    block = resnet.BasicBlock(16, 32, stride=2, shortcut="A")
    x = torch.randn(2, 16, 8, 8)
    out = block.shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert float(out[:, :8].abs().sum() + out[:, 24:].abs().sum()) == 0.0


def test_bad_options_raise():
    with pytest.raises(ValueError, match="depth must be 6n \\+ 2"):
        resnet.cifar_resnet(21, 10)
    with pytest.raises(ValueError, match="hidden must be"):
        models.build("mlp", 10, (1, 8, 8), hidden=(0,))
    with pytest.raises(ValueError, match="name must be one of"):
        models.build("vgg16")


def test_registry_holds_every_model_of_these_families():
    assert {"mlp", "small_cnn", "resnet18", "resnet20", "resnet56", "resnet110"} <= set(
        models.names()
    )


def test_cnn1d_parameter_count_matches_its_closed_form():
    """(c·5 + 1)·w + 2·(w·w·3 + w) + (w·L₃ + 1)·k, with L₃ the length after three halvings."""
    c, w, k, length = 1, 32, 10, 40
    for kernel in (5, 3, 3):
        length = (length + 2 - kernel) // 2 + 1
    expected = (c * 5 + 1) * w + 2 * (w * w * 3 + w) + (w * length + 1) * k
    net = models.build("cnn1d", k, (c, 40))
    assert sum(p.numel() for p in net.parameters()) == expected
    assert net(torch.zeros(3, 1, 40)).shape == (3, 10)


def test_cnn1d_rejects_images():
    with pytest.raises(ValueError, match="input_shape must be"):
        models.build("cnn1d", 10, (1, 8, 8))


def test_mlp_trains_on_sequences():
    net = models.build("mlp", 10, (1, 40))
    assert net(torch.zeros(2, 1, 40)).shape == (2, 10)


def test_preserved_restores_weights_buffers_and_modes_after_an_exception():
    """BatchNorm's running statistics are buffers; an exception inside the block must not
    leave the changed weights or the eval mode behind."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout())
    net[2].eval()  # a submodule in its own mode must get that mode back, not the parent's
    before = {k: v.clone() for k, v in net.state_dict().items()}
    weight = net[0].weight
    with pytest.raises(RuntimeError, match="inside"):
        with models.preserved(net):
            net.train()
            net(torch.randn(8, 3))  # updates the running statistics
            with torch.no_grad():
                net[0].weight.mul_(3.0)
            raise RuntimeError("inside")
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net[0].weight is weight  # restored in place: optimizers keep their references
    assert [m.training for m in net.modules()] == [True, True, True, False]


def test_preserved_can_leave_the_weights_alone():
    net = torch.nn.Linear(2, 2)
    with models.preserved(net, weights=False):
        with torch.no_grad():
            net.weight.zero_()
        net.eval()
    assert net.training and float(net.weight.abs().sum()) == 0.0


def test_build_with_a_seed_is_a_function_of_the_seed():
    a = models.build("cnn1d", 10, (1, 40), seed=3)
    torch.manual_seed(99)
    b = models.build("cnn1d", 10, (1, 40), seed=3)
    c = models.build("cnn1d", 10, (1, 40), seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


@pytest.mark.parametrize("parametrization", ["sp", "mup"])
def test_mlp_init_scale_multiplies_the_weights_and_the_bias_free_output_by_its_power(
    parametrization,
):
    """init_scale c multiplies each weight matrix of the same seed's network by c and leaves
    the biases; with the biases zeroed, a ReLU network of L linear layers is positively
    homogeneous of degree L in its weights, so its output is multiplied by exactly c^L (a
    closed form; float32 weights, so to float32's precision)."""
    options = {"hidden": (32, 32, 32)}
    if parametrization == "mup":
        options = {"hidden": (32, 32), "parametrization": "mup", "base_width": 8}
    one = models.build("mlp", 10, (1, 8, 8), seed=5, **options).double()
    three = models.build("mlp", 10, (1, 8, 8), seed=5, init_scale=3.0, **options).double()
    layers = [(a, b) for a, b in zip(one, three, strict=True) if isinstance(a, nn.Linear)]
    for a, b in layers:
        torch.testing.assert_close(b.weight, 3.0 * a.weight)
        assert torch.equal(b.bias, a.bias)
    with torch.no_grad():
        for a, b in layers:
            a.bias.zero_()
            b.bias.zero_()
    x = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    expected = 3.0 ** len(layers) * one(x)
    slack = 1e-5 * float(expected.abs().max())
    torch.testing.assert_close(three(x), expected, rtol=1e-5, atol=slack)


def test_mlp_init_scale_must_be_positive():
    with pytest.raises(ValueError, match="^init_scale must be"):
        models.build("mlp", 10, (1, 8, 8), init_scale=0.0)


def test_linear_is_multinomial_logistic_regression_as_scikit_learn_computes_it():
    """The linear model's softmax is scikit-learn's LogisticRegression.predict_proba with
    the same weights (the reference), and its parameter count is (d + 1) k."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1, 8, 8))
    y = np.arange(40) % 10
    net = models.build("linear", 10, (1, 8, 8), seed=0)
    assert n_params(net) == (64 + 1) * 10 == 650
    reference = LogisticRegression(max_iter=200).fit(x.reshape(40, -1), y)  # sets the shapes
    reference.coef_ = net[1].weight.detach().double().numpy()
    reference.intercept_ = net[1].bias.detach().double().numpy()
    with torch.no_grad():
        ours = torch.softmax(net(torch.as_tensor(x, dtype=torch.float32)).double(), dim=1)
    np.testing.assert_allclose(ours.numpy(), reference.predict_proba(x.reshape(40, -1)), atol=1e-6)
