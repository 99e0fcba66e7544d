"""SegFormer with swapped token mixers: shapes, the swap, the adapter's layout, gradients, FLOP and parameter counts."""

from __future__ import annotations

import inspect
import json

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")

from afno_tutorial import AFNO2d  # noqa: E402
from afno_tutorial.flops import mixer_flops  # noqa: E402
from afno_tutorial.segformer import (  # noqa: E402
    VARIANTS,
    MixerAdapter,
    attention_slots,
    build_segformer,
    mixer_names,
    record_token_grids,
    segformer_config,
    stage_grids,
    swap_mixers,
)
from afno_tutorial.segformer.costs import attention_flops, largest_batch, model_costs, predict_seconds  # noqa: E402


def _segformer_modules(module: nn.Module) -> list[str]:
    """Names of the transformers-defined modules inside ``module`` (SegFormer's attention and its parts)."""
    return [type(m).__name__ for m in module.modules() if type(m).__module__.startswith("transformers")]


def test_variants_have_the_papers_shapes():
    config = segformer_config("b3")
    assert list(config.depths) == [3, 4, 18, 3] and list(config.hidden_sizes) == [64, 128, 320, 512]
    assert list(config.sr_ratios) == [8, 4, 2, 1] and list(config.num_attention_heads) == [1, 2, 5, 8]
    assert list(config.patch_sizes) == [7, 3, 3, 3] and list(config.strides) == [4, 2, 2, 2]
    assert config.decoder_hidden_size == 768 and config.num_labels == 19 and config.semantic_loss_ignore_index == 255
    assert [v.depths for v in VARIANTS.values()] == [(2, 2, 2, 2), (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 18, 3),
                                                     (3, 8, 27, 3), (3, 6, 40, 3)]  # fmt: skip
    # transformers' default configuration is B0's shape: the same model.
    ours = build_segformer("b0")
    theirs = transformers.SegformerForSemanticSegmentation(transformers.SegformerConfig(num_labels=19))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("mixer", ["attention", "afno", "gfn", "fno"])
def test_output_shapes(mixer):
    torch.manual_seed(0)
    model = build_segformer("b0", num_labels=5, mixer=mixer, image_size=64).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 96)).logits
    assert logits.shape == (2, 5, 16, 24)
    assert bool(torch.isfinite(logits).all())


def test_swap_all_stages_leaves_no_segformer_attention():
    model = build_segformer("b0", mixer="afno")
    for slot in attention_slots(model):
        assert isinstance(slot.module, MixerAdapter) and isinstance(slot.module.mixer, AFNO2d)
        assert slot.module.mixer.dim == model.config.hidden_sizes[slot.stage - 1]
        assert _segformer_modules(slot.module) == []
    assert mixer_names(model) == {1: "afno", 2: "afno", 3: "afno", 4: "afno"}
    assert len(attention_slots(model)) == sum(model.config.depths)


def test_swap_some_stages_keeps_the_others():
    model = swap_mixers(build_segformer("b0"), "gfn", stages=[1, 3], image_size=128)
    assert mixer_names(model) == {1: "gfn", 2: "attention (sr 4)", 3: "gfn", 4: "attention (sr 1)"}
    for slot in attention_slots(model):
        if slot.stage in (1, 3):
            assert _segformer_modules(slot.module) == []
            assert slot.module.mixer.size == stage_grids(128, model.config)[slot.stage - 1]
        else:
            assert "SegformerAttention" in _segformer_modules(slot.module)


def test_gradients_reach_every_mixer_parameter():
    torch.manual_seed(0)
    model = build_segformer("b0", num_labels=4, mixer="afno", stages=[1, 2, 4], image_size=64)
    logits = model(torch.randn(2, 3, 64, 64)).logits
    nn.functional.cross_entropy(logits, torch.randint(0, 4, (2, 16, 16))).backward()
    mixers = [slot.module for slot in attention_slots(model) if isinstance(slot.module, MixerAdapter)]
    assert len(mixers) == 2 + 2 + 2
    for adapter in mixers:
        for name, param in adapter.named_parameters():
            assert param.grad is not None, name
            assert bool(torch.isfinite(param.grad).all()) and float(param.grad.abs().max()) > 0, name


def test_a_1024_crop_gives_the_first_stage_65536_tokens():
    model = build_segformer("b0").eval()
    with torch.no_grad(), record_token_grids(model) as grids:
        logits = model(torch.randn(1, 3, 1024, 1024)).logits
    assert logits.shape == (1, 19, 256, 256)
    first = [g for g in grids if g["stage"] == 1]
    assert len(first) == 2 and all(g["tokens"] == 65_536 and (g["height"], g["width"]) == (256, 256) for g in first)
    seen = sorted({(g["stage"], g["height"], g["width"]) for g in grids})
    assert seen == [(1, 256, 256), (2, 128, 128), (3, 64, 64), (4, 32, 32)]
    assert stage_grids(1024, model.config) == [(256, 256), (128, 128), (64, 64), (32, 32)]
    assert stage_grids((100, 75), model.config) == [(25, 19), (13, 10), (7, 5), (4, 3)]


class _Recorder(nn.Module):
    """A mixer that remembers the grid it was given and returns it doubled."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return 2 * x


def test_the_adapter_sees_segformers_tokens_as_a_row_major_grid():
    feature_map = torch.randn(2, 8, 5, 7)  # (B, C, H, W), as SegFormer's patch embedding makes it
    tokens = feature_map.flatten(2).transpose(1, 2)  # SegFormer's (B, N, C)
    recorder = _Recorder()
    out, weights = MixerAdapter(recorder, "recorder")(tokens, 5, 7)
    assert weights is None
    assert torch.equal(recorder.seen, feature_map.permute(0, 2, 3, 1))
    assert torch.equal(out, 2 * tokens)
    with pytest.raises(ValueError, match="hidden_states"):
        MixerAdapter(recorder, "recorder")(tokens, 7, 5 + 1)


def test_segformers_layer_adds_the_residual_around_the_mixer():
    torch.manual_seed(0)
    model = build_segformer("b0").eval()
    slot = attention_slots(model)[0]
    slot.layer.attention = MixerAdapter(_Recorder(), "recorder")
    layer = slot.layer
    norms = [m for m in layer.children() if isinstance(m, nn.LayerNorm)]
    x = torch.randn(1, 6 * 4, 32)
    with torch.no_grad():
        out = layer(x, 6, 4)
        out = out[0] if isinstance(out, tuple) else out
        mid = x + 2 * norms[0](x)  # x + mixer(norm(x)): the layer's own residual
        expected = mid + layer.mlp(norms[1](mid), 6, 4)
    torch.testing.assert_close(out, expected)


@pytest.mark.skipif("inner_skip" not in inspect.signature(AFNO2d).parameters,
                    reason="this AFNO2d adds its input itself (no inner_skip option)")  # fmt: skip
def test_afno_in_segformer_returns_the_mix_only():
    torch.manual_seed(0)
    model = build_segformer("b0", mixer="afno").eval()
    slot = attention_slots(model)[0]
    with torch.no_grad():
        for param in slot.module.parameters():
            param.zero_()  # no spectrum survives: the mix is 0, so the branch adds nothing
        x = torch.randn(1, 24, 32)
        mixed, _ = slot.module(x, 6, 4)
    assert float(mixed.abs().max()) == 0.0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mixer: expected one of .*'nonsense'"):
        build_segformer("b0", mixer="nonsense")
    with pytest.raises(ValueError, match="mixer: 'attention'"):
        swap_mixers(build_segformer("b0"), "attention")
    with pytest.raises(ValueError, match="stages"):
        build_segformer("b0", mixer="afno", stages=[0])
    with pytest.raises(ValueError, match="stages"):
        build_segformer("b0", mixer="afno", stages=[5])
    with pytest.raises(ValueError, match="variant"):
        build_segformer("b9")
    with pytest.raises(ValueError, match="sr_ratios"):
        segformer_config("b0", sr_ratios=(8, 4, 2))
    with pytest.raises(ValueError, match="stages"):
        build_segformer("b0", stages=[1])
    with pytest.raises(TypeError, match="model"):
        attention_slots(nn.Linear(2, 2))


def test_full_attention_is_attention_without_reduction():
    model = build_segformer("b0", sr_ratios=(1, 4, 2, 1))
    assert mixer_names(model)[1] == "attention (sr 1)"
    with torch.no_grad(), record_token_grids(model) as grids:
        model.eval()(torch.randn(1, 3, 64, 64))
    assert grids[0]["tokens"] == 256


def test_attention_flops_match_the_flop_counter():
    """SegFormer's attention computed eagerly: every FLOP is a matrix product or convolution the counter sees."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_segformer("b0", config_overrides={"attn_implementation": "eager"})
    for slot in attention_slots(model)[:1] + attention_slots(model)[-1:]:  # stage 1 (sr 8) and stage 4 (sr 1)
        channels = model.config.hidden_sizes[slot.stage - 1]
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            slot.module(torch.randn(1, 16 * 24, channels), 16, 24)
        ours = attention_flops(slot.module, 16, 24)
        assert counter.get_total_flops() == ours["projections"] + ours["scores"]


def test_model_costs_add_up():
    model = build_segformer("b0", mixer="afno", stages=[1, 2])
    costs = model_costs(model, 128)
    assert [r["tokens"] for r in costs["stages"]] == [1024, 256, 64, 16]
    assert sum(r["stage_params"] for r in costs["stages"]) + costs["decode_head"]["params"] == costs["params"]
    assert costs["params"] == sum(p.numel() for p in model.parameters())
    slots = [s for s in attention_slots(model) if s.stage == 1]
    assert costs["stages"][0]["mixer_flops"] == sum(mixer_flops(s.module.mixer, (32, 32))["total"] for s in slots)
    assert costs["stages"][0]["mixer_params"] == sum(p.numel() for s in slots for p in s.module.parameters())
    # Swapping mixers changes the mixers' counts only: the rest of every stage and the head count the same.
    plain = model_costs(build_segformer("b0"), 128)
    for a, b in zip(costs["stages"], plain["stages"]):
        assert a["stage_flops"] - a["mixer_flops"] == b["stage_flops"] - b["mixer_flops"]
        assert a["stage_params"] - a["mixer_params"] == b["stage_params"] - b["mixer_params"]
    assert costs["decode_head"] == plain["decode_head"]
    assert plain["stages"][2]["mixer"] == "attention (sr 2)"


def test_largest_batch_and_prediction_helpers():
    assert largest_batch(lambda b: b <= 37, limit=256) == 37
    assert largest_batch(lambda b: b <= 1000, limit=64) == 64
    assert largest_batch(lambda b: False) == 0
    assert predict_seconds([256, 512], [1.0, 4.0], 1024) == pytest.approx(16.0)
    assert predict_seconds([256], [1.0], 1024) != predict_seconds([256], [1.0], 1024)  # NaN: one point fits no line


def test_the_costs_command_measures_skips_and_appends(tmp_path, capsys):
    from afno_tutorial.segformer.costs import main

    out = tmp_path / "costs"
    common = ["--variant", "b0", "--modes", "forward", "--repeats", "1", "--no-progress", "--out", str(out)]
    sizes = ["--sizes", "32", "48", "64"]
    assert main(["--configurations", "AFNO, stage 1", *sizes, "--time-budget", "1e-6", *common]) == 0
    first = json.loads(out.with_suffix(".json").read_text())
    statuses = [(r["image_size"], r["status"]) for r in first["rows"]]
    assert statuses == [(32, "measured"), (48, "measured"), (64, "skipped")]  # 64 predicted over the budget
    assert first["rows"][0]["timed"] == "first call" and first["rows"][0]["time_s"] > 0
    assert first["rows"][2]["estimate_s"] > 0 and first["rows"][0]["stage1_tokens"] == 64
    assert main(["--configurations", "efficient attention", "--sizes", "64", "--append", *common]) == 0
    both = json.loads(out.with_suffix(".json").read_text())
    assert [r["configuration"] for r in both["rows"]] == ["efficient attention"] + ["AFNO, stage 1"] * 3
    assert len(both["commands"]) == 2 and set(both["costs"]) == {"efficient attention", "AFNO, stage 1"}
    assert out.with_suffix(".csv").read_text().startswith("configuration,")
    printed = capsys.readouterr().out
    assert "| AFNO, stage 1 |" in printed and "skipped" in printed
