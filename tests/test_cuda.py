"""The CUDA paths: every mixer, bf16 autocast, training and the few-shot helpers on a GPU.

Skipped without a CUDA device (CI has none); ``benchmarks/gpu_checks.sh`` runs them on a GPU machine. The CPU
float64 computation is the reference throughout.
"""

from __future__ import annotations

import pytest
import torch

from afno_tutorial import SegmentationModel, VisionBackbone, fewshot
from afno_tutorial.bench import run_benchmark
from afno_tutorial.data import make_segmentation_set
from afno_tutorial.mixers import AFNO2d, build_mixer
from afno_tutorial.train import autocast, evaluate_segmentation, train_segmentation

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).norm() / b.detach().double().norm())


@pytest.mark.parametrize("fraction", [1.0, 0.5])
@pytest.mark.parametrize("grid", [(16, 16), (15, 22)])
def test_afno_cuda_matches_cpu_float64_forward_and_backward(fraction: float, grid: tuple[int, int]) -> None:
    torch.manual_seed(0)
    cpu = AFNO2d(64, num_blocks=4, hard_thresholding_fraction=fraction).double()
    gpu = AFNO2d(64, num_blocks=4, hard_thresholding_fraction=fraction).cuda()
    gpu.load_state_dict({k: v.float() for k, v in cpu.state_dict().items()})
    x = torch.randn(2, *grid, 64, dtype=torch.float64)
    grad = torch.randn_like(x)
    xc, xg = x.clone().requires_grad_(), x.float().cuda().requires_grad_()
    yc, yg = cpu(xc), gpu(xg)
    yc.backward(grad)
    yg.backward(grad.float().cuda())
    assert yg.dtype == torch.float32 and yg.device.type == "cuda"
    assert _rel(yg.cpu(), yc) < 1e-5
    assert _rel(xg.grad.cpu(), xc.grad) < 1e-5
    for name, p in gpu.named_parameters():
        assert _rel(p.grad.cpu(), dict(cpu.named_parameters())[name].grad) < 1e-4, name


def test_afno_cuda_shift_equivariance_only_without_the_nonlinearity() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 16, 16, 32, device=CUDA)
    shift = dict(shifts=(3, 5), dims=(1, 2))
    # A per-bin linear map (one layer, no bias, no shrinkage) commutes with shifts; ReLU on real and imaginary
    # parts does not (a shift multiplies each bin by a phase).
    linear = AFNO2d(32, num_blocks=4, mlp_layers=1, bias=False, sparsity_threshold=0.0).cuda()
    torch.testing.assert_close(linear(torch.roll(x, **shift)), torch.roll(linear(x), **shift), atol=1e-5, rtol=1e-5)
    full = AFNO2d(32, num_blocks=4).cuda()
    with torch.no_grad():
        for p in full.parameters():
            p.mul_(15.0)  # weights of order 0.3, as in the CPU test: the nonlinearity is active
        gap = (full(torch.roll(x, **shift)) - torch.roll(full(x), **shift)).abs().max()
    assert gap > 1e-3


def test_afno_spectral_part_stays_float32_under_autocast() -> None:
    torch.manual_seed(0)
    mixer = AFNO2d(64, num_blocks=4).cuda()
    x = torch.randn(2, 16, 16, 64, device=CUDA)
    plain = mixer(x)
    with autocast(CUDA):
        cast = mixer(x)
    assert cast.dtype == torch.float32
    assert _rel(cast, plain) < 1e-6  # autocast has nothing to change inside AFNO
    # bf16 input and parameters: the transforms and the MLP still run in float32, the output is bf16.
    low = mixer.to(torch.bfloat16)(x.bfloat16())
    assert low.dtype == torch.bfloat16
    assert 0 < _rel(low, plain) < 1e-2


@pytest.mark.parametrize("name", ["afno", "gfn", "fno", "attention"])
def test_every_mixer_on_cuda_matches_cpu_and_trains_in_bf16(name: str) -> None:
    torch.manual_seed(0)
    cpu = build_mixer(name, 32, grid_size=(8, 8))
    gpu = build_mixer(name, 32, grid_size=(8, 8)).cuda()
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(2, 8, 8, 32)
    assert _rel(gpu(x.cuda()).cpu(), cpu(x)) < 1e-4
    xg = x.cuda().requires_grad_()
    with autocast(CUDA):
        out = gpu(xg)
    out.float().square().mean().backward()
    grads = [xg.grad] + [p.grad for p in gpu.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_segmentation_trains_on_cuda_with_autocast() -> None:
    torch.manual_seed(0)
    train, test = make_segmentation_set(8, size=32, seed=0), make_segmentation_set(8, size=32, seed=1)
    backbone = VisionBackbone(dim=32, depth=2, patch_size=4, img_size=32, mixer="afno", mixer_kwargs={"num_blocks": 4})
    model = SegmentationModel(backbone, train.num_classes)
    history = train_segmentation(model, train.images, train.masks, steps=60, lr=3e-3, freeze_backbone=False,
                                 device="cuda", progress=False)
    assert history["device"].startswith("CUDA") and next(model.parameters()).device.type == "cuda"
    assert all(torch.isfinite(torch.tensor(history["loss"])))
    assert history["loss"][-1] < history["loss"][0]
    result = evaluate_segmentation(model, test.images, test.masks)
    assert 0.0 <= result["miou"] <= 1.0
    mask = fewshot.segment_large(model, test.images[0], device="cuda")
    assert mask.shape == test.images.shape[-2:] and mask.device.type == "cpu"
    assert fewshot.time_forward(backbone, 64, device="cuda", repeats=2) > 0


def test_cuda_benchmark_in_bf16_measures_every_mixer() -> None:
    rows = run_benchmark(["afno", "attention", "gfn", "fno", "roundtrip"], [8, 16], dim=32, device="cuda",
                         dtype="bfloat16", modes=("forward", "backward"), repeats=2, warmup_seconds=0.0,
                         progress=False)  # fmt: skip
    assert len(rows) == 20
    for row in rows:
        assert row["status"] == "ok", row
        assert row["memory_bytes"] > 0 and row["time_s"] > 0 and row["device"].startswith("CUDA"), row
