"""AFNO: the Adaptive Fourier Neural Operator token mixer (Guibas et al., ICLR 2022, arXiv 2111.13587).

For every kept frequency bin ``m`` of ``z = rfft2(x)`` and every channel block ``j`` (the same weights for every
bin, "adaptive weight sharing"):

    z~_mj = S_lambda( W2_j . ReLU(W1_j . z_mj + b1_j) + b2_j ),        y = irfft2(z~)

The weights are complex, ReLU and the soft-shrink ``S_lambda`` act on real and imaginary parts separately, bins
outside the kept set are zero. Like every mixer here, :class:`AFNO2d` returns the mixed tokens ``y``; the block
around it adds the residual. ``inner_skip=True`` returns ``x + y`` as the reference code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import spectral
from ..checks import check_float, check_positive_int, check_tokens
from ._cpu import afno_cpu, cpu_path

PATHS = ("auto", "plain", "pocketfft")


class AFNO2d(nn.Module):
    """The AFNO token mixer, ``x: (B, H, W, C) -> y: (B, H, W, C)`` for any grid ``H x W``.

    With ``k`` channel blocks of ``b = C / k`` channels, hidden width ``h = f b``, and ``P`` kept bins::

        z  = rfft2(x) on the kept bins                    (B, C, R, M) complex, P = R M bins
        z  = z as channel blocks                          (B, k, b, P)
        u  = ReLU(W1 z + b1)                              (B, k, h, P)   W1: (k, h, b) complex
        z~ = S_lambda(W2 u + b2)                          (B, k, b, P)   W2: (k, b, h) complex
        y  = irfft2(z~ in the kept bins, 0 elsewhere)     (B, H, W, C)

    ReLU and ``S_lambda(t) = sign(t) max(|t| - lambda, 0)`` act on real and imaginary parts separately; the
    spectral part runs in float32 (float64 for float64 input), also under ``torch.autocast``, and the output has
    the input's dtype. ``irfft2`` takes the real field nearest to the (non-Hermitian) spectrum ``z~``
    (``hermitian_projection``).

    Args:
        dim: channels ``C``.
        num_blocks: ``k``, the number of diagonal blocks of the channel MLP (``dim`` must divide by it).
        sparsity_threshold: ``lambda`` of the soft-shrink (0 switches it off).
        hard_thresholding_fraction: fraction of the distinct frequencies kept on each axis (lowest ``|k_y|`` on
            both signs, lowest ``k_x``); 1 keeps all.
        hidden_size_factor: ``f``, the hidden width of each block's MLP is ``f * b``.
        fft_norm: ``"ortho"`` (the paper) or ``"forward"`` (coefficients independent of the grid size).
        modes: ``(m_y, m_x)`` absolute kept set ``|k_y| < m_y, k_x < m_x``; overrides the fraction. With
            ``fft_norm="forward"`` this makes the mixer resolution independent.
        mlp_layers: 2 (the paper's adaptive MLP) or 1 (one block-diagonal complex weight shared by all bins,
            the paper's non-adaptive ablation; no ReLU).
        bias: whether the MLP has biases ``b1, b2`` (the paper's mixer has them).
        inner_skip: return ``x + y`` (the skip inside the reference implementation's mixer, for its state_dicts
            and outputs) instead of the mixed tokens ``y`` alone (default: the block adds the residual, as for
            every other mixer).
        hermitian_projection: after the nonlinearity the ``k_x = 0`` (and Nyquist) column is not Hermitian;
            ``True`` takes the nearest real field explicitly (the same on CPU and CUDA), ``False`` leaves it to
            ``irfft2`` as the reference code does (what CPU ``irfft2`` does is the same projection).
        path: ``"plain"``: :meth:`forward`'s computation, on every device. ``"auto"`` (default): on a CPU, inputs
            larger than the threshold of :mod:`afno_tutorial.mixers._cpu` (12 MiB, on grids of at least
            48x48 tokens) take the fast CPU path, the rest the plain one.
            ``"pocketfft"``: the fast CPU path for every CPU input. Both give the same outputs and gradients
            (tested).
        keep_activations: on the fast CPU path, when a graph is recorded, keep the MLP's input bins, hidden
            activations and soft-shrink mask until the backward (default; about 2.3x the input's size) instead
            of recomputing them there from the input (``False``). The same outputs and gradients either way.

    Parameters are named and shaped as in the reference implementation so its state_dicts load unchanged:
    ``w1 (2, k, b, h)``, ``b1 (2, k, h)``, ``w2 (2, k, h, b)``, ``b2 (2, k, b)`` (index 0 real part, 1 imaginary
    part; ``out = in @ w``). With ``mlp_layers=1`` only ``w1 (2, k, b, b)`` and ``b1 (2, k, b)``.

    The fast CPU path (``mixers/_cpu``) transforms the channels-last tokens with SciPy's FFT and has a hand-written
    first-order backward: for double backward (gradient penalties) pass ``path="plain"`` (the fast path says so
    if asked); ``torch.func`` transforms take the plain path by themselves. It keeps no memory between calls.
    """

    def __init__(
        self,
        dim: int,
        num_blocks: int = 8,
        sparsity_threshold: float = 0.01,
        hard_thresholding_fraction: float = 1.0,
        hidden_size_factor: int = 1,
        fft_norm: str = "ortho",
        modes: tuple[int, int] | None = None,
        *,
        mlp_layers: int = 2,
        bias: bool = True,
        inner_skip: bool = False,
        hermitian_projection: bool = True,
        path: str = "auto",
        keep_activations: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(num_blocks, "num_blocks")
        if dim % num_blocks:
            raise ValueError(f"dim: expected a multiple of num_blocks={num_blocks}, got dim={dim}")
        check_positive_int(hidden_size_factor, "hidden_size_factor")
        if mlp_layers not in (1, 2):
            raise ValueError(f"mlp_layers: expected 1 or 2, got {mlp_layers!r}")
        if path not in PATHS:
            raise ValueError(f"path: expected one of {PATHS}, got {path!r}")
        self.dim = dim
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        self.hidden_size_factor = hidden_size_factor
        self.sparsity_threshold = check_float(sparsity_threshold, "sparsity_threshold", low=0.0)
        self.hard_thresholding_fraction = spectral.check_fraction(hard_thresholding_fraction)
        self.fft_norm = spectral.check_norm(fft_norm)
        self.modes = spectral.check_modes(modes)
        self.mlp_layers = mlp_layers
        self.inner_skip = bool(inner_skip)
        self.hermitian_projection = bool(hermitian_projection)
        self.path = path
        self.keep_activations = bool(keep_activations)

        k, b = num_blocks, self.block_size
        hidden = b * hidden_size_factor if mlp_layers == 2 else b
        scale = 0.02
        self.w1 = nn.Parameter(scale * torch.randn(2, k, b, hidden))
        self.b1 = nn.Parameter(scale * torch.randn(2, k, hidden)) if bias else None
        self.w2 = nn.Parameter(scale * torch.randn(2, k, hidden, b)) if mlp_layers == 2 else None
        self.b2 = nn.Parameter(scale * torch.randn(2, k, b)) if mlp_layers == 2 and bias else None

    def extra_repr(self) -> str:
        kept = f"modes={self.modes}" if self.modes else f"hard_thresholding_fraction={self.hard_thresholding_fraction}"
        return (
            f"dim={self.dim}, num_blocks={self.num_blocks}, sparsity_threshold={self.sparsity_threshold}, "
            f"{kept}, hidden_size_factor={self.hidden_size_factor}, fft_norm={self.fft_norm!r}, "
            f"mlp_layers={self.mlp_layers}" + (", inner_skip=True" if self.inner_skip else "")
        )

    def kept_modes(self, height: int, width: int) -> tuple[int, int]:
        """The kept set ``(m_y, m_x)`` on an ``(H, W)`` grid (``|k_y| < m_y``, ``k_x < m_x``)."""
        if self.modes is not None:
            spectral.check_modes_fit(self.modes, height, width)
            return self.modes
        return spectral.modes_from_fraction(height, width, self.hard_thresholding_fraction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, H, W, C)`` real -> the mixed tokens ``y: (B, H, W, C)`` (``x + y`` with ``inner_skip``)."""
        check_tokens(x, self.dim)
        if cpu_path(self, x) != "plain":
            return afno_cpu(self, x)  # large CPU inputs: the fast path of mixers/_cpu, tested against the lines below
        batch, height, width, channels = x.shape
        modes = self.kept_modes(height, width)
        real = torch.float64 if x.dtype == torch.float64 else torch.float32
        with spectral.autocast_off(x.device):  # autocast would run the block products in bf16
            z = spectral.rfft2_kept(x.to(real).permute(0, 3, 1, 2), modes, self.fft_norm)  # (B, C, R, M)
            z = self.spectral_mlp(z)  # (B, C, R, M)
            y = spectral.irfft2_kept(z, (height, width), modes, self.fft_norm, self.hermitian_projection)
        y = y.permute(0, 2, 3, 1).to(x.dtype)  # (B, C, H, W) -> (B, H, W, C)
        return x + y if self.inner_skip else y

    def spectral_mlp(self, z: torch.Tensor) -> torch.Tensor:
        """The block-diagonal complex MLP shared by all bins, ``z: (B, C, R, M)`` complex -> ``(B, C, R, M)``."""
        batch, channels, rows, cols = z.shape
        z = z.reshape(batch, self.num_blocks, self.block_size, rows * cols)  # (B, k, b, P): a view, channels first
        u = block_linear(z, self.w1, self.b1)  # (B, k, h, P)
        if self.mlp_layers == 2:
            u = block_linear(relu_parts(u), self.w2, self.b2)  # (B, k, b, P)
        return softshrink_parts(u, self.sparsity_threshold).reshape(batch, channels, rows, cols)


def block_linear(z: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``W_j z + b_j`` for every channel block ``j``: one batched complex matrix product over ``(B k, width, bins)``,
    the bias added by the same call.

    Args:
        z: ``(B, k, n_in, P)`` complex.
        w: ``(2, k, n_in, n_out)``, real and imaginary parts in the reference layout (``out = in @ w``).
        bias: ``(2, k, n_out)`` or ``None``.

    Returns:
        ``(B, k, n_out, P)`` complex.
    """
    batch, blocks, n_in, bins = z.shape
    real = z.real.dtype  # the weights in the spectrum's precision (a bf16 model computes it in float32)
    weight = torch.complex(w[0].to(real), w[1].to(real)).transpose(-1, -2).repeat(batch, 1, 1)  # (B k, n_out, n_in)
    z = z.reshape(batch * blocks, n_in, bins)
    if bias is None:
        out = torch.bmm(weight, z)
    else:
        b = torch.complex(bias[0].to(real), bias[1].to(real)).unsqueeze(-1).repeat(batch, 1, 1)  # (B k, n_out, 1)
        out = torch.baddbmm(b, weight, z)
    return out.view(batch, blocks, out.shape[1], bins)


def relu_parts(z: torch.Tensor) -> torch.Tensor:
    """ReLU on the real and imaginary parts of complex ``z`` separately."""
    return torch.view_as_complex(torch.relu(torch.view_as_real(z)))


def softshrink_parts(z: torch.Tensor, threshold: float) -> torch.Tensor:
    """``S_lambda`` on the real and imaginary parts of complex ``z`` separately (``threshold`` 0: ``z`` itself)."""
    if threshold == 0:
        return z
    return torch.view_as_complex(F.softshrink(torch.view_as_real(z), threshold))
