"""From FNO to AFNO in six rungs, each changing one thing, and the measurement of each rung.

====  ==================================================  ==========================================================
rung  mixer                                               what changes
====  ==================================================  ==========================================================
1     ``SpectralConv2d(dim, modes)``                      FNO: a dense complex ``dim x dim`` weight per kept mode,
                                                          FNO's own truncation to ``modes``
2     ``SpectralConv2d(dim, modes, num_blocks=k)``        block-diagonal per-mode weights
3     ``AFNO2d(dim, k, modes=modes, mlp_layers=1,         one block-diagonal weight shared by every kept mode
      sparsity_threshold=0, bias=False)``                 (non-adaptive)
4     ``AFNO2d(dim, k, mlp_layers=1, sparsity_threshold=0, every mode kept: sharing made the truncation unnecessary
      bias=False)``
5     ``AFNO2d(dim, k, sparsity_threshold=0)``            a two-layer MLP with biases and ReLU shared by every mode
                                                          (adaptive)
6     ``AFNO2d(dim, k, sparsity_threshold=lambda)``       soft-thresholding ``S_lambda``: the AFNO of the paper
                                                          (``AFNO2d(dim)`` with the defaults k = 8, lambda = 0.01)
====  ==================================================  ==========================================================

Every spectral weight starts as AFNO's do, ``0.02 * randn`` for its real and imaginary parts (FNO's rungs are
re-initialised so; the library's own ``SpectralConv2d`` starts norm-preserving), so that the initialisation is
not one more change between rungs. Linear rungs (1-4) compute the same function under any FFT ``norm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from .. import measure, spectral
from ..checks import check_float, check_pair, check_positive_int
from ..config import describe_device, seed_everything
from ..flops import count_flops, mixer_flops
from ..mixers import AFNO2d, SpectralConv2d, build_mixer
from ..models import InpaintingModel, VisionBackbone

# The standard deviation every rung's spectral weights start from (AFNO's initialisation).
INIT_STD = 0.02


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: a registry mixer name and its constructor arguments."""

    number: int
    name: str
    change: str
    mixer: str
    kwargs: dict = field(default_factory=dict)

    def mixer_kwargs(self, grid_size: tuple[int, int]) -> dict:
        """Constructor arguments for a ``grid_size`` token grid (FNO's modes capped to what the grid holds)."""
        kwargs = dict(self.kwargs)
        if self.mixer == "fno":
            top = fno_max_modes(grid_size)
            modes = kwargs.get("modes", top)
            kwargs["modes"] = (min(modes[0], top[0]), min(modes[1], top[1]))
        return kwargs

    def build_mixer(self, dim: int, grid_size: tuple[int, int]) -> nn.Module:
        """The rung's mixer for ``dim`` channels on a ``grid_size`` grid, initialised as every rung is."""
        return init_like_afno(build_mixer(self.mixer, dim, grid_size=grid_size, **self.mixer_kwargs(grid_size)))


def init_like_afno(module: nn.Module) -> nn.Module:
    """Give every FNO spectral weight in ``module`` AFNO's initialisation, ``INIT_STD * randn`` (in place)."""
    for m in module.modules():
        if isinstance(m, SpectralConv2d):
            with torch.no_grad():
                m.weight.normal_(0.0, INIT_STD)
    return module


def fno_max_modes(grid_size: tuple[int, int]) -> tuple[int, int]:
    """Every mode a per-mode weight can hold on ``(H, W)``: ``|k_y| <= (H-1)/2`` (distinct +/- rows), all ``k_x``."""
    height, width = check_pair(grid_size, "grid_size")
    return (height + 1) // 2, width // 2 + 1


def ladder_rungs(num_blocks: int = 8, modes: tuple[int, int] = (4, 4), sparsity_threshold: float = 0.01) -> list[Rung]:
    """The six rungs, FNO to AFNO (see the module docstring); ``modes`` is FNO's kept set for rungs 1-3."""
    k = check_positive_int(num_blocks, "num_blocks")
    modes = spectral.check_modes(modes)
    lam = check_float(sparsity_threshold, "sparsity_threshold", low=0.0, low_open=True)
    shared = {"num_blocks": k, "mlp_layers": 1, "sparsity_threshold": 0.0, "bias": False}
    m_y, m_x = modes
    return [
        Rung(1, "FNO", f"dense complex weight per kept mode, |k_y| < {m_y}, k_x < {m_x}", "fno",
             {"modes": modes, "num_blocks": 1}),
        Rung(2, "block-diagonal", f"{k} diagonal blocks per mode", "fno", {"modes": modes, "num_blocks": k}),
        Rung(3, "shared linear", "one block-diagonal weight for every kept mode", "afno", {**shared, "modes": modes}),
        Rung(4, "every mode", "keep every mode", "afno", shared),
        Rung(5, "shared MLP", "two-layer MLP with biases and ReLU (adaptive)", "afno",
             {"num_blocks": k, "sparsity_threshold": 0.0}),
        Rung(6, "AFNO", f"soft-thresholding, lambda = {lam:g}", "afno", {"num_blocks": k, "sparsity_threshold": lam}),
    ]


def build_rung_model(
    rung: Rung, *, dim: int, depth: int, img_size: int, patch_size: int, in_chans: int = 3, afno_init: bool = True
) -> InpaintingModel:
    """An :class:`InpaintingModel` whose every block uses ``rung``'s mixer (same depth and width for all rungs).

    ``afno_init``: FNO weights start as AFNO's (:func:`init_like_afno`, the ladder); ``False`` keeps each mixer's
    own initialisation.
    """
    grid = (img_size // patch_size, img_size // patch_size)
    backbone = VisionBackbone(in_chans=in_chans, patch_size=patch_size, dim=dim, depth=depth, mixer=rung.mixer,
                              mixer_kwargs=rung.mixer_kwargs(grid), img_size=img_size)
    return InpaintingModel(init_like_afno(backbone) if afno_init else backbone)


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
    time (the fastest of ``repeats`` after a warm-up of at least one call and
    :data:`afno_tutorial.measure.WARMUP_SECONDS`, :func:`afno_tutorial.measure.time_step`; a fresh process's first
    calls are slow) and peak memory (live tensors, :func:`afno_tutorial.measure.peak_memory_bytes`) of an inference
    forward (``torch.no_grad``).
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
        "forward_ms": 1e3 * min(measure.time_step(run, dev, repeats=repeats, warmup=1)[1]),
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
    seeds: Sequence[int] = (0, 1, 2),
    measure_grids: Sequence[tuple[int, int]] = ((16, 16), (128, 128)),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[dict]:
    """Train every rung the same way with each seed on masked-patch inpainting, and measure its mixer.

    Args:
        rungs: from :func:`ladder_rungs`.
        train_images, test_images: ``(N, 3, S, S)`` in ``[0, 1]`` (held-out test images).
        dim, depth, patch_size: the same backbone for every rung.
        steps, batch_size, lr: :func:`afno_tutorial.train.pretrain_inpainting` settings, the same for every rung.
        seeds: one training run per rung and seed; a seed fixes the initialisation and the batches, so every rung
            sees the same data in the same order under the same seed (differences between rungs are paired).
        measure_grids: token grids for the cost columns (one mixer, batch 1): the training grid and a large one.

    Returns:
        One dict per rung: ``number, name, change``; ``costs``: ``{grid: measure_mixer(...)}`` per grid;
        ``model_params``; ``psnr``: the test PSNR of each seed (dB, hidden pixels of held-out images, the same masks
        for every run), ``psnr_mean``, ``psnr_std`` (sample standard deviation over seeds); ``loss``: the mean
        training curve over seeds; ``train_seconds_per_step``; ``seeds``; ``device``.
    """
    from tqdm.auto import tqdm

    from ..train import evaluate_inpainting

    if train_images.ndim != 4 or train_images.shape[-1] != train_images.shape[-2]:
        raise ValueError(f"train_images: expected (N, C, S, S), got {tuple(train_images.shape)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: expected at least one seed")
    grids = [check_pair(g, "measure_grids") for g in measure_grids]
    rows = []
    bar = tqdm(total=len(rungs) * len(seeds), desc="ladder (rungs x seeds)", disable=not progress)
    for rung in rungs:
        seed_everything(seeds[0])
        costs = {g: measure_mixer(rung.build_mixer(dim, g), g, repeats=20, device=device, seed=seeds[0]) for g in grids}
        row = {"number": rung.number, "name": rung.name, "change": rung.change, "seeds": seeds, "costs": costs}
        psnr, curves, step_seconds = [], [], []
        for seed in seeds:
            model, history = _train_rung(rung, train_images, dim, depth, patch_size, steps, batch_size, lr, seed,
                                         device, progress=False)
            psnr.append(evaluate_inpainting(model, test_images, seed=0)["psnr"])
            curves.append(history["loss"])
            step_seconds.append(history["seconds_per_step"])
            bar.set_postfix(rung=rung.number, seed=seed, psnr=f"{psnr[-1]:.2f}")
            bar.update()
        row.update(
            model_params=float(count_parameters(model)),
            psnr=psnr,
            psnr_mean=sum(psnr) / len(psnr),
            psnr_std=_sample_std(psnr),
            loss=[sum(values) / len(values) for values in zip(*curves)],
            train_seconds_per_step=sum(step_seconds) / len(step_seconds),
            device=describe_device(device),
        )
        rows.append(row)
    bar.close()
    return rows


def _sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (``n - 1`` in the denominator); 0 for a single value."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def rung_steps(rows: Sequence[dict]) -> list[dict]:
    """What each change does to the test PSNR, paired by seed, from :func:`run_ladder`'s rows.

    Returns one dict per consecutive pair of rungs: ``number`` (the rung that makes the change), ``change``,
    ``delta`` (the per-seed PSNR differences, dB), ``mean``, ``std`` (over seeds), ``stderr`` (``std / sqrt(n)``),
    and ``measurable``: whether ``|mean| > 2 * stderr`` and every seed moves the same way. With few seeds that is
    a rough test: it says whether the change stands out from the seed-to-seed noise of this experiment.
    """
    steps = []
    for before, after in zip(rows, rows[1:]):
        if before["seeds"] != after["seeds"]:
            raise ValueError("rows: every rung must be trained with the same seeds to pair them")
        delta = [b - a for a, b in zip(before["psnr"], after["psnr"])]
        mean, std = sum(delta) / len(delta), _sample_std(delta)
        stderr = std / math.sqrt(len(delta))
        same_sign = all(d > 0 for d in delta) or all(d < 0 for d in delta)
        steps.append({"number": after["number"], "change": after["change"], "delta": delta, "mean": mean, "std": std,
                      "stderr": stderr, "measurable": len(delta) > 1 and same_sign and abs(mean) > 2 * stderr})
    return steps


def _factor(before: float, after: float) -> str:
    """``after`` relative to ``before`` as a readable factor: ``"x 4.2"``, ``"/ 8"`` or ``"unchanged"``."""
    if before == after:
        return "unchanged"
    if before == 0 or after == 0:
        return f"{before:.3g} -> {after:.3g}"
    ratio = after / before
    return f"x {ratio:.3g}" if ratio >= 1 else f"/ {1 / ratio:.3g}"


def describe_steps(rows: Sequence[dict]) -> str:
    """A markdown list: what each rung's change does to the costs (at every measured grid) and to the test PSNR.

    The PSNR change is paired by seed (:func:`rung_steps`) and called not measurable when it does not stand out
    from the seed-to-seed noise.
    """
    grids = list(rows[0]["costs"])
    lines = []
    for step, before, after in zip(rung_steps(rows), rows, rows[1:]):
        costs = []
        for key, name in (("params", "parameters"), ("flops", "FLOPs"), ("forward_ms", "forward time"),
                          ("peak_mb", "peak memory")):
            per_grid = [_factor(before["costs"][g][key], after["costs"][g][key]) for g in grids]
            if key == "params" or len(set(per_grid)) == 1:
                costs.append(f"{name} {per_grid[0]}")
            else:
                costs.append(f"{name} " + ", ".join(f"{f} at {h}x{w}" for f, (h, w) in zip(per_grid, grids)))
        deltas = ", ".join(f"{d:+.2f}" for d in step["delta"])
        verdict = ("**measurable**" if step["measurable"] else
                   "**not measurable** at this scale (within the seed-to-seed noise)")
        lines.append(f"- **Rung {step['number']}, {step['change']}:** {'; '.join(costs)}. Test PSNR "
                     f"{step['mean']:+.2f} ± {step['std']:.2f} dB (per seed: {deltas}): {verdict}.")
    return "\n".join(lines)


def ladder_markdown(rows: Sequence[dict]) -> str:
    """A markdown table of :func:`run_ladder`'s rows: costs of one mixer at each measured grid, PSNR mean ± std."""
    if not rows:
        raise ValueError("rows: expected at least one rung")
    grids = list(rows[0]["costs"])
    device = rows[0]["device"]
    head = ["rung", "change", "mixer params"]
    for h, w in grids:
        head += [f"GFLOPs at {h}x{w}", f"forward ms at {h}x{w}", f"peak MB at {h}x{w}"]
    head += [f"test PSNR (dB), mean ± std of {len(rows[0]['psnr'])} seeds"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [f"{r['number']} {r['name']}", r["change"], f"{r['costs'][grids[0]]['params']:,.0f}"]
        for g in grids:
            c = r["costs"][g]
            cells += [f"{c['flops'] / 1e9:.3g}", f"{c['forward_ms']:.3g}", f"{c['peak_mb']:.3g}"]
        cells.append(f"{r['psnr_mean']:.2f} ± {r['psnr_std']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nTimes and memory: {device}, batch 1, inference forward."


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


def kept_projection(x: torch.Tensor, modes: tuple[int, int], norm: str = "ortho") -> torch.Tensor:
    """``P x``: ``x: (B, H, W, C)`` with every ``rfft2`` bin outside the kept set ``modes`` set to zero."""
    size = tuple(x.shape[1:3])
    z = spectral.rfft2_kept(x.permute(0, 3, 1, 2), modes, norm)
    return spectral.irfft2_kept(z, size, modes, norm).permute(0, 2, 3, 1)


def nonadaptive_decomposition(mixer: AFNO2d, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rungs 3 and 4 written without any weight in Fourier space: ``mixer(x) == (P x) A + (H P x) B``.

    ``A + iB`` is the shared weight, ``H`` the Hilbert-type transform (:func:`hilbert_transform`) and ``P`` the
    projection onto the kept set (:func:`kept_projection`; the identity when every mode is kept, rung 4). Both
    ``P`` and ``H`` are fixed: nothing spatial is learned.

    Args:
        mixer: ``AFNO2d(dim, mlp_layers=1, sparsity_threshold=0, bias=False)``.
        x: ``(B, H, W, C)``.

    Returns:
        ``{"mixer": mixer(x), "pointwise": (P x) @ A + (H P x) @ B}`` (``mixer(x) - x`` for ``inner_skip=True``);
        they are equal for such a mixer.
    """
    a, b = shared_linear_weights(mixer)  # raises unless mlp_layers=1
    if mixer.b1 is not None or mixer.sparsity_threshold > 0:
        raise ValueError("mixer: expected no bias and sparsity_threshold=0")
    with torch.no_grad():
        residual = mixer(x) - x if mixer.inner_skip else mixer(x)
        low = kept_projection(x, mixer.kept_modes(*x.shape[1:3]), mixer.fft_norm)
        pointwise = low @ a.to(x.dtype) + hilbert_transform(low, mixer.fft_norm) @ b.to(x.dtype)
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

    Same backbone, seed, batches and schedule for every model (as in :func:`run_ladder`, without measurements;
    each mixer keeps its own initialisation). Returns ``name -> trained model`` (eval mode); each model's loss
    history is on ``model.history``.
    """
    models = {}
    for number, (name, (mixer, kwargs)) in enumerate(specs.items(), start=1):
        rung = Rung(number, name, "", mixer, dict(kwargs))
        model, model.history = _train_rung(rung, train_images, dim, depth, patch_size, steps, batch_size, lr, seed,
                                           device, progress, afno_init=False)
        models[name] = model
    return models


def _train_rung(rung: Rung, train_images: torch.Tensor, dim: int, depth: int, patch_size: int, steps: int,
                batch_size: int, lr: float, seed: int, device: torch.device | str,
                progress: bool, afno_init: bool = True) -> tuple[InpaintingModel, dict]:
    """Build ``rung``'s inpainting model from ``seed`` and train it; the one recipe every comparison shares."""
    from ..train import pretrain_inpainting

    seed_everything(seed)
    model = build_rung_model(rung, dim=dim, depth=depth, img_size=train_images.shape[-1], patch_size=patch_size,
                             in_chans=train_images.shape[1], afno_init=afno_init)
    history = pretrain_inpainting(model, train_images, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                  device=device, progress=progress)
    return model, history
