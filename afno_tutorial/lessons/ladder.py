"""From FNO to AFNO in six rungs, each adding one change, and the measurement of each rung.

====  ==================================================  ==========================================================
rung  mixer                                               what changes
====  ==================================================  ==========================================================
1     ``SpectralConv2d(dim, modes)``                      FNO: a dense complex ``dim x dim`` weight per kept mode
2     ``SpectralConv2d(dim, modes, num_blocks=k)``        block-diagonal per-mode weights
3     ``AFNO2d(dim, mlp_layers=1, sparsity_threshold=0,   one block-diagonal weight shared by every mode
      bias=False)``                                       (non-adaptive)
4     ``AFNO2d(dim, sparsity_threshold=0)``               a two-layer MLP with ReLU shared by every mode (adaptive)
5     ``AFNO2d(dim)``                                     plus soft-thresholding (shrinkage) ``S_lambda``
6     ``AFNO2d(dim, hard_thresholding_fraction=f)``       plus hard mode truncation: the full AFNO
====  ==================================================  ==========================================================

Rungs 1-5 keep every mode the grid holds (FNO's per-mode weights cannot hold the ``k_y = -H/2`` Nyquist row), so
that each rung changes one thing; rung 6 then truncates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from .. import measure, spectral
from ..checks import check_pair, check_positive_int
from ..config import describe_device, seed_everything
from ..flops import count_flops, mixer_flops
from ..mixers import AFNO2d, build_mixer
from ..models import InpaintingModel, VisionBackbone


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: a registry mixer name and its constructor arguments."""

    number: int
    name: str
    change: str
    mixer: str
    kwargs: dict = field(default_factory=dict)

    def mixer_kwargs(self, grid_size: tuple[int, int]) -> dict:
        """Constructor arguments for a ``grid_size`` token grid (FNO's modes depend on the grid)."""
        kwargs = dict(self.kwargs)
        if self.mixer == "fno" and "modes" not in kwargs:
            kwargs["modes"] = fno_max_modes(grid_size)
        return kwargs

    def build_mixer(self, dim: int, grid_size: tuple[int, int]) -> nn.Module:
        """The rung's mixer for ``dim`` channels on a ``grid_size`` grid."""
        return build_mixer(self.mixer, dim, grid_size=grid_size, **self.mixer_kwargs(grid_size))


def fno_max_modes(grid_size: tuple[int, int]) -> tuple[int, int]:
    """Every mode a per-mode weight can hold on ``(H, W)``: ``|k_y| <= (H-1)/2`` (distinct +/- rows), all ``k_x``."""
    height, width = check_pair(grid_size, "grid_size")
    return (height + 1) // 2, width // 2 + 1


def ladder_rungs(num_blocks: int = 8, fraction: float = 0.5, sparsity_threshold: float = 0.01) -> list[Rung]:
    """The six rungs, FNO to AFNO (see the module docstring)."""
    spectral.check_fraction(fraction)
    k = check_positive_int(num_blocks, "num_blocks")
    lam = sparsity_threshold
    return [
        Rung(1, "FNO", "dense complex weight per mode", "fno", {}),
        Rung(2, "FNO, block-diagonal", f"{k} diagonal blocks per mode", "fno", {"num_blocks": k}),
        Rung(3, "shared linear (non-adaptive)", "one block-diagonal weight for all modes", "afno",
             {"num_blocks": k, "mlp_layers": 1, "sparsity_threshold": 0.0, "bias": False}),
        Rung(4, "shared MLP (adaptive)", "2-layer MLP + ReLU for all modes", "afno",
             {"num_blocks": k, "sparsity_threshold": 0.0}),
        Rung(5, "+ soft-thresholding", f"softshrink, lambda = {lam}", "afno",
             {"num_blocks": k, "sparsity_threshold": lam}),
        Rung(6, "+ hard truncation (AFNO)", f"keep fraction {fraction} of the modes", "afno",
             {"num_blocks": k, "sparsity_threshold": lam, "hard_thresholding_fraction": fraction}),
    ]


def build_rung_model(
    rung: Rung, *, dim: int, depth: int, img_size: int, patch_size: int, in_chans: int = 3
) -> InpaintingModel:
    """An :class:`InpaintingModel` whose every block uses ``rung``'s mixer (same depth and width for all rungs)."""
    grid = (img_size // patch_size, img_size // patch_size)
    backbone = VisionBackbone(in_chans=in_chans, patch_size=patch_size, dim=dim, depth=depth, mixer=rung.mixer,
                              mixer_kwargs=rung.mixer_kwargs(grid), img_size=img_size)
    return InpaintingModel(backbone)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------------------------
# Costs of one mixer


def counted_matmul_flops(mixer: nn.Module, x: torch.Tensor) -> int:
    """FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` counts for one forward (matrix products only).

    Counted on the plain path of a mixer that has faster ones (``AFNO2d(path=...)``): there the MLP runs as
    complex matmuls, which the counter counts at 2 FLOPs per complex multiply-add as for FNO, so 4x the count is
    the real-arithmetic ``mixing`` FLOPs for every spectral mixer. The fast CPU paths do the same products as real
    matmuls on (real, imaginary) pairs, which the counter sees at their full real cost.
    """
    path = getattr(mixer, "path", None) if isinstance(mixer, AFNO2d) else None
    try:
        if path is not None:
            mixer.path = "plain"
        return count_flops(mixer, x)
    finally:
        if path is not None:
            mixer.path = path


def measure_mixer(
    mixer: nn.Module, grid_size: tuple[int, int], *, batch: int = 1, repeats: int = 5,
    device: torch.device | str = "cpu", seed: int = 0,
) -> dict[str, float]:
    """Parameters, FLOPs, forward time and peak memory of ``mixer`` on a ``(batch, H, W, dim)`` token grid.

    Returns ``{"params", "flops", "fft_flops", "mixing_flops", "counter_flops", "forward_ms", "peak_mb"}``:
    ``flops`` from :func:`afno_tutorial.flops.mixer_flops`; ``counter_flops`` what ``FlopCounterMode`` counts
    (matrix products, a complex multiply-add as 2 FLOPs, so 4x it equals ``mixing_flops`` for the spectral mixers);
    time (the fastest of ``repeats`` after one warm-up call, :func:`afno_tutorial.measure.time_step`) and peak memory
    (live tensors, :func:`afno_tutorial.measure.peak_memory_bytes`) of an inference forward (``torch.no_grad``).
    """
    height, width = check_pair(grid_size, "grid_size")
    dev = torch.device(device)
    mixer = mixer.to(dev).eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, height, width, mixer.dim, generator=gen).to(dev)
    counts = mixer_flops(mixer, (height, width), batch=batch)

    def run() -> torch.Tensor:
        with torch.no_grad():
            return mixer(x)

    return {
        "params": float(count_parameters(mixer)),
        "flops": counts["total"],
        "fft_flops": counts["fft"],
        "mixing_flops": counts["mixing"],
        "counter_flops": float(counted_matmul_flops(mixer, x)),
        "forward_ms": 1e3 * min(measure.time_step(run, dev, repeats=repeats, warmup=1, warmup_seconds=0.0)[1]),
        "peak_mb": measure.peak_memory_bytes(run, dev, method="tensors") / 2**20,
    }


# ---------------------------------------------------------------------------------------------------------------
# The whole ladder


def run_ladder(
    rungs: Sequence[Rung],
    train_images: torch.Tensor,
    test_images: torch.Tensor,
    *,
    dim: int = 64,
    depth: int = 4,
    patch_size: int = 4,
    steps: int = 1000,
    batch_size: int = 16,
    lr: float = 2e-3,
    measure_grid: tuple[int, int] = (64, 64),
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[dict]:
    """Train every rung the same way on masked-patch inpainting and measure its mixer.

    Args:
        rungs: from :func:`ladder_rungs`.
        train_images, test_images: ``(N, 3, S, S)`` in ``[0, 1]`` (held-out test images).
        dim, depth, patch_size: the same backbone for every rung.
        steps, batch_size, lr: :func:`afno_tutorial.train.pretrain_inpainting` settings, the same for every rung.
        measure_grid: token grid for the cost columns (one mixer, batch 1).

    Returns:
        One dict per rung: ``number, name, change``, the :func:`measure_mixer` columns, ``model_params``,
        ``psnr`` (dB, hidden pixels of held-out images), ``final_loss`` (mean of the last 5% of steps),
        ``train_seconds_per_step``, ``loss`` (the curve), ``device``.
    """
    from tqdm.auto import tqdm

    from ..train import evaluate_inpainting

    if train_images.ndim != 4 or train_images.shape[-1] != train_images.shape[-2]:
        raise ValueError(f"train_images: expected (N, C, S, S), got {tuple(train_images.shape)}")
    rows = []
    for rung in tqdm(rungs, desc="ladder", disable=not progress):
        seed_everything(seed)
        mixer = rung.build_mixer(dim, measure_grid)
        row = {"number": rung.number, "name": rung.name, "change": rung.change}
        row.update(measure_mixer(mixer, measure_grid, device=device, seed=seed))
        model, history = _train_rung(rung, train_images, dim, depth, patch_size, steps, batch_size, lr, seed,
                                     device, progress)
        tail = max(1, len(history["loss"]) // 20)
        row.update(
            model_params=float(count_parameters(model)),
            psnr=evaluate_inpainting(model, test_images, seed=seed)["psnr"],
            final_loss=sum(history["loss"][-tail:]) / tail,
            train_seconds_per_step=history["seconds_per_step"],
            loss=list(history["loss"]),
            device=describe_device(device),
        )
        rows.append(row)
    return rows


def ladder_markdown(rows: Sequence[dict], measure_grid: tuple[int, int]) -> str:
    """A markdown table of :func:`run_ladder`'s rows (costs of one mixer on ``measure_grid``; PSNR of the model)."""
    h, w = measure_grid
    device = rows[0]["device"] if rows else ""
    lines = [
        f"| rung | mixer | change | mixer params | GFLOPs at {h}x{w} | forward ms at {h}x{w} ({device}) "
        f"| peak MB | model params | test PSNR (dB) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['number']} | {r['name']} | {r['change']} | {r['params']:,.0f} | {r['flops'] / 1e9:.3f} "
            f"| {r['forward_ms']:.2f} | {r['peak_mb']:.1f} | {r['model_params']:,.0f} | {r['psnr']:.2f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Rung 3: a shared linear weight is a 1x1 map plus a fixed Hilbert-type transform


def hilbert_transform(x: torch.Tensor, norm: str = "ortho") -> torch.Tensor:
    """``H x``: multiply every ``rfft2`` bin of each channel by ``i`` and transform back (real part, projected).

    Args:
        x: ``(B, H, W, C)`` real.

    Returns:
        ``(B, H, W, C)``. On the ``k_x > 0`` columns this is a 90-degree phase shift (a Hilbert transform along
        ``x``); on the ``k_x = 0`` (and Nyquist) column the projection to a real field removes it.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected (B, H, W, C), got shape {tuple(x.shape)}")
    xc = x.permute(0, 3, 1, 2)
    z = torch.fft.rfft2(xc, norm=norm) * 1j
    return spectral.irfft2_hermitian(z, tuple(x.shape[1:3]), norm=norm).permute(0, 2, 3, 1)


def shared_linear_weights(mixer: AFNO2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The real and imaginary parts ``(A, B)`` of rung 3's weight as block-diagonal ``(C, C)`` matrices (``x @ A``)."""
    if not isinstance(mixer, AFNO2d) or mixer.mlp_layers != 1:
        raise ValueError("mixer: expected an AFNO2d with mlp_layers=1 (one shared complex weight)")
    a = torch.block_diag(*mixer.w1[0].detach())
    b = torch.block_diag(*mixer.w1[1].detach())
    return a, b


def nonadaptive_decomposition(mixer: AFNO2d, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rung 3 written without any FFT: ``mixer(x) == x A + (H x) B``.

    Args:
        mixer: ``AFNO2d(dim, mlp_layers=1, sparsity_threshold=0, bias=False)`` keeping all modes.
        x: ``(B, H, W, C)``.

    Returns:
        ``{"mixer": mixer(x), "pointwise": x @ A + (H x) @ B}`` (``mixer(x) - x`` for ``inner_skip=True``); they are
        equal for such a mixer.
    """
    a, b = shared_linear_weights(mixer)  # raises unless mlp_layers=1
    if mixer.b1 is not None or mixer.sparsity_threshold > 0 or mixer.kept_modes(*x.shape[1:3]) != spectral.max_modes(
        *x.shape[1:3]
    ):
        raise ValueError("mixer: expected no bias, sparsity_threshold=0 and every mode kept")
    with torch.no_grad():
        residual = mixer(x) - x if mixer.inner_skip else mixer(x)
        pointwise = x @ a.to(x.dtype) + hilbert_transform(x, mixer.fft_norm) @ b.to(x.dtype)
    return {"mixer": residual, "pointwise": pointwise}


def train_mixers(
    specs: dict[str, tuple[str, dict]],
    train_images: torch.Tensor,
    *,
    dim: int = 64,
    depth: int = 4,
    patch_size: int = 4,
    steps: int = 600,
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict[str, InpaintingModel]:
    """Train one inpainting model per ``name -> (mixer registry name, mixer kwargs)``, all the same way.

    Same backbone, seed, batches and schedule for every model (as in :func:`run_ladder`, without measurements).
    Returns ``name -> trained model`` (eval mode); each model's loss history is on ``model.history``.
    """
    models = {}
    for number, (name, (mixer, kwargs)) in enumerate(specs.items(), start=1):
        rung = Rung(number, name, "", mixer, dict(kwargs))
        model, model.history = _train_rung(rung, train_images, dim, depth, patch_size, steps, batch_size, lr, seed,
                                           device, progress)
        models[name] = model
    return models


def _train_rung(rung: Rung, train_images: torch.Tensor, dim: int, depth: int, patch_size: int, steps: int,
                batch_size: int, lr: float, seed: int, device: torch.device | str,
                progress: bool) -> tuple[InpaintingModel, dict]:
    """Build ``rung``'s inpainting model from ``seed`` and train it; the one recipe every comparison shares."""
    from ..train import pretrain_inpainting

    seed_everything(seed)
    model = build_rung_model(rung, dim=dim, depth=depth, img_size=train_images.shape[-1], patch_size=patch_size,
                             in_chans=train_images.shape[1])
    history = pretrain_inpainting(model, train_images, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                  device=device, progress=progress)
    return model, history
