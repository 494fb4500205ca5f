"""WRN-28-10 (lrlab.models.wide) has the published size and shape."""

from __future__ import annotations

import pytest
import torch

from lrlab import models


def test_wrn28_10_has_the_papers_parameter_count_and_three_stages():
    """Zagoruyko & Komodakis (2016), Table 1/4: WRN-28-10 has 36.5M parameters."""
    net = models.build("wrn28_10", 10)
    assert sum(p.numel() for p in net.parameters()) == 36_479_194
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 1 + 2 * 12  # stem + two per block, 4 blocks in each of 3 stages
    assert {c.out_channels for c in convs} == {16, 160, 320, 640}


def test_wide_resnet_rejects_depths_not_6n_plus_4():
    from lrlab.models.wide import wide_resnet

    with pytest.raises(ValueError, match="depth must be 6n \\+ 4"):
        wide_resnet(27, 10, 10)
    out = wide_resnet(10, 2, 7)(torch.zeros(3, 3, 32, 32))
    assert out.shape == (3, 7)
