"""Private: the fast CPU path of :class:`~afno_tutorial.mixers.afno.AFNO2d`, entered from one line of its ``forward``.

Nothing here is needed to understand AFNO; every result equals the readable computation in ``mixers/afno.py``
(tested, outputs and gradients). ``benchmarks/README.md`` says what each piece buys
(``benchmarks/cpu_path_ablation.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from .pocketfft import afno_pocketfft

# Inputs above MIN_BYTES take the fast path under path="auto", only with at least MIN_TOKENS tokens per image (the
# fast path works image by image: a batch of small grids is faster on the readable path). Below them the readable
# path is as fast or faster, with a graph recorded or not (benchmarks/cpu_switch_points.py, benchmarks/README.md).
MIN_BYTES = 12 << 20
MIN_TOKENS = 48 * 48


def cpu_path(mixer: nn.Module, x: torch.Tensor) -> str:
    """The path ``mixer.forward`` (an :class:`~afno_tutorial.mixers.afno.AFNO2d`) takes for ``x: (B, H, W, C)``:
    ``"plain"`` or ``"pocketfft"`` (see ``AFNO2d.path``)."""
    if mixer.path == "plain" or x.device.type != "cpu" or not _plain_tensors(x, *mixer.parameters()):
        return "plain"
    if mixer.path == "pocketfft":
        return "pocketfft"
    large = x.numel() * x.element_size() > MIN_BYTES and x.shape[1] * x.shape[2] >= MIN_TOKENS
    return "pocketfft" if large else "plain"


def _plain_tensors(*tensors: torch.Tensor) -> bool:
    """Whether every tensor has memory of its own. The fast path reads it through NumPy, and its backward is
    first-order: the wrapped tensors of ``torch.func`` transforms (``grad``, ``vmap``, ``jacrev``...) have none,
    so under a transform the mixer takes the plain path, which autograd and the transforms differentiate."""
    try:
        for t in tensors:
            t.untyped_storage()
    except (NotImplementedError, RuntimeError):
        return False
    return True


def afno_cpu(mixer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``mixer(x)`` on the fast CPU path: ``x: (B, H, W, C)`` -> ``(B, H, W, C)``, the input's dtype."""
    modes = mixer.kept_modes(*x.shape[1:3])
    real = torch.float64 if x.dtype == torch.float64 else torch.float32
    with torch.autocast("cpu", enabled=False):
        out = afno_pocketfft(x.to(real), mixer.w1, mixer.b1, mixer.w2, mixer.b2, modes=modes, norm=mixer.fft_norm,
                             sparsity_threshold=mixer.sparsity_threshold, inner_skip=mixer.inner_skip,
                             keep_activations=mixer.keep_activations)
    return out.to(x.dtype)
