"""Backbone, blocks and task heads: shapes at several sizes, position-embedding interpolation, gradients."""

from __future__ import annotations

import pytest
import torch

from afno_tutorial import (
    Block,
    InpaintingModel,
    PatchEmbed,
    SegmentationModel,
    VisionBackbone,
    available_mixers,
    build_mixer,
    masked_mse,
    random_patch_mask,
    register_mixer,
    unregister_mixer,
)

MIXERS = ["afno", "fno", "gfn", "attention"]


def _backbone(mixer: str, **kwargs) -> VisionBackbone:
    torch.manual_seed(0)
    return VisionBackbone(in_chans=3, patch_size=4, dim=32, depth=2, mixer=mixer, img_size=32, **kwargs)


def test_registry_builds_every_mixer():
    assert set(MIXERS) <= set(available_mixers())
    x = torch.randn(1, 16, 16, 32)
    for name in MIXERS:
        assert build_mixer(name, 32, grid_size=(16, 16))(x).shape == x.shape


def test_registry_accepts_new_mixers():
    @register_mixer("identity-test")
    def _identity(dim, *, grid_size=None):
        return torch.nn.Identity()

    try:
        assert isinstance(build_mixer("identity-test", 8), torch.nn.Identity)
        assert isinstance(Block(8, "identity-test").mixer, torch.nn.Identity)
    finally:
        unregister_mixer("identity-test")  # other tests see the registry as the package leaves it


@pytest.mark.parametrize("mixer", MIXERS)
def test_backbone_shapes_at_build_and_other_sizes(mixer):
    backbone = _backbone(mixer)
    assert backbone(torch.randn(2, 3, 32, 32)).shape == (2, 8, 8, 32)
    assert backbone(torch.randn(1, 3, 48, 64)).shape == (1, 12, 16, 32)


def test_position_embedding_is_interpolated_not_ignored():
    backbone = _backbone("afno")
    pos = backbone.position_embedding(16, 16)
    assert pos.shape == (1, 16, 16, 32)
    # Interpolating to the built size returns the parameter itself.
    assert backbone.position_embedding(8, 8) is backbone.pos_embed
    # Interpolation is smooth: a constant embedding stays constant.
    with torch.no_grad():
        backbone.pos_embed.fill_(0.5)
    torch.testing.assert_close(backbone.position_embedding(12, 20), torch.full((1, 12, 20, 32), 0.5))


@pytest.mark.parametrize("mixer", MIXERS)
def test_segmentation_logits_at_input_size(mixer):
    model = SegmentationModel(_backbone(mixer), num_classes=5)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5, 32, 32)
    assert model(torch.randn(1, 3, 64, 48)).shape == (1, 5, 64, 48)


@pytest.mark.parametrize("mixer", MIXERS)
def test_inpainting_reconstructs_pixels_and_trains_every_parameter(mixer):
    model = InpaintingModel(_backbone(mixer))
    images = torch.rand(2, 3, 32, 32)
    mask = random_patch_mask(2, (8, 8), ratio=0.5, generator=torch.Generator().manual_seed(0))
    pred = model(images, mask)
    assert pred.shape == images.shape
    masked_mse(pred, images, mask).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model(torch.rand(1, 3, 48, 40)).shape == (1, 3, 48, 40)


def test_masked_patches_do_not_see_their_pixels():
    model = InpaintingModel(_backbone("afno"))
    images = torch.rand(1, 3, 32, 32)
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 2, 3] = True
    changed = images.clone()
    changed[..., 8:12, 12:16] = torch.rand(3, 4, 4)  # the pixels of the hidden patch
    torch.testing.assert_close(model(images, mask), model(changed, mask))


def test_random_patch_mask_hides_exactly_the_ratio():
    mask = random_patch_mask(3, (8, 6), ratio=0.25, generator=torch.Generator().manual_seed(1))
    assert mask.shape == (3, 8, 6) and mask.dtype == torch.bool
    assert (mask.sum(dim=(1, 2)) == 12).all()
    again = random_patch_mask(3, (8, 6), ratio=0.25, generator=torch.Generator().manual_seed(1))
    assert torch.equal(mask, again)


def test_masked_mse_counts_hidden_pixels_only():
    target = torch.zeros(1, 2, 8, 8)
    pred = torch.zeros(1, 2, 8, 8)
    pred[..., :4, :4] = 2.0  # error only in patch (0, 0)
    mask = torch.zeros(1, 2, 2, dtype=torch.bool)
    assert masked_mse(pred, target, mask | torch.tensor([[[False, True], [False, False]]])).item() == 0.0
    mask[0, 0, 0] = True
    assert masked_mse(pred, target, mask).item() == pytest.approx(4.0)


def test_drop_path_is_identity_in_eval_and_stochastic_in_training():
    torch.manual_seed(0)
    block = Block(16, "afno", drop_path=0.5)
    x = torch.randn(8, 4, 4, 16)
    block.eval()
    torch.testing.assert_close(block(x), block(x))
    block.train()
    assert not torch.allclose(block(x), block(x))


def test_patch_embed_output_layout():
    embed = PatchEmbed(in_chans=1, patch_size=2, dim=4)
    assert embed(torch.randn(3, 1, 6, 8)).shape == (3, 3, 4, 4)
