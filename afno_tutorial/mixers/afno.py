"""AFNO: the Adaptive Fourier Neural Operator token mixer (Guibas et al., ICLR 2022, arXiv 2111.13587).

For every kept frequency bin ``m`` and channel block ``j`` (the same weights for every bin):

    z~_mj = S_lambda( W2_j . ReLU(W1_j . z_mj + b1_j) + b2_j ),        y = irfft2(z~)

``z = rfft2(x)``; the weights are complex, ReLU and the soft-shrink ``S_lambda`` act on real and imaginary parts
separately; bins outside the kept set are zero. Like every mixer here, :class:`AFNO2d` returns the mixed tokens
``y`` only; the block around it adds the residual. ``inner_skip=True`` returns ``x + y`` as the reference code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import spectral
from ..checks import check_nonnegative_float, check_positive_int, check_tokens
from ._cpu.pocketfft import afno_pocketfft
from ._cpu.tiled import DEFAULT_TILE_BYTES, afno_tiled

PATHS = ("auto", "plain", "pocketfft", "tiled")
# Inputs above these sizes take the pocketfft path under path="auto": a forward that records no graph above
# POCKETFFT_MIN_BYTES_NO_GRAD, one that autograd will differentiate above POCKETFFT_MIN_BYTES. Below them the
# plain path's whole-tensor temporaries fit in the caches and it is as fast or faster. Measured on a 2-core x86
# CPU at C=256 (benchmarks/cpu_2threads_paths.*); measure the switch points on a machine with the command in
# benchmarks/README.md.
POCKETFFT_MIN_BYTES = 8 << 20
POCKETFFT_MIN_BYTES_NO_GRAD = 2 << 20


class AFNO2d(nn.Module):
    """The AFNO token mixer, ``x: (B, H, W, C) -> (B, H, W, C)`` for any ``H, W``.

    Args:
        dim: channels ``C``.
        num_blocks: ``k``, the number of diagonal blocks of the channel MLP (``dim`` must divide by it).
        sparsity_threshold: ``lambda`` of the soft-shrink on real and imaginary parts (0 switches it off).
        hard_thresholding_fraction: fraction of the distinct frequencies kept on each axis (lowest ``|k_y|`` on
            both signs, lowest ``k_x``); 1 keeps all.
        hidden_size_factor: ``f``, hidden width of the MLP is ``f * dim / k`` per block.
        fft_norm: ``"ortho"`` (the paper) or ``"forward"`` (coefficients independent of the grid size).
        modes: ``(m_y, m_x)`` absolute kept set ``|k_y| < m_y, k_x < m_x``; overrides the fraction. With
            ``fft_norm="forward"`` this makes the mixer resolution independent.
        mlp_layers: 2 (the paper's adaptive MLP) or 1 (one block-diagonal complex weight shared by all bins,
            the paper's non-adaptive ablation; no ReLU).
        bias: whether the MLP has biases ``b1, b2`` (the paper's mixer has them).
        inner_skip: return ``x + y`` (the reference implementation's skip inside the mixer, for its state_dicts
            and outputs) instead of the mixed tokens ``y`` alone (default: the block adds the residual, as for
            every other mixer).
        hermitian_projection: make the output the real field nearest to the non-Hermitian spectrum explicitly
            (same on CPU and CUDA); ``False`` leaves it to ``irfft2`` as the reference code does.
        path: how the mixer is computed on a CPU; all give the same numbers (tested).
            ``"pocketfft"``: channels-last with SciPy's FFT, which keeps the channels innermost, so nothing is
            transposed (:mod:`~afno_tutorial.mixers._cpu.pocketfft`; a hand-written backward).
            ``"tiled"``: PyTorch's FFT one channel block at a time, transposing each tile into the FFT's layout
            (:mod:`~afno_tutorial.mixers._cpu.tiled`; a hand-written backward; peak memory the output plus one
            tile's temporaries).
            ``"plain"``: the whole-tensor computation that autograd differentiates, which is also the path on every
            other device.
            ``"auto"`` (default): ``"pocketfft"`` on CPU where it pays, for inputs of more than
            :data:`POCKETFFT_MIN_BYTES` (more than :data:`POCKETFFT_MIN_BYTES_NO_GRAD` when no gradient is
            recorded), else ``"plain"``.
            The hand-written backward passes are first-order only: for double backward (e.g. gradient penalties)
            pass ``"plain"``; ``torch.func`` transforms switch to the plain path by themselves, and under
            ``torch.compile`` the fast paths run as one eager call.
        keep_activations: on the pocketfft path, when a graph is recorded, keep the MLP's input bins, hidden
            activations and soft-shrink mask for the backward (default; about 2.3x the input's size more memory
            until the backward, at fraction 1 and ``hidden_size_factor=1``) rather than recompute them from the
            input (``False``: two more transforms and two more matrix products per block in the backward).
            Outputs and gradients are the same either way.

    Parameters are named and shaped as in the reference implementation so its state_dicts load unchanged:
    ``w1 (2, k, b, b*f)``, ``b1 (2, k, b*f)``, ``w2 (2, k, b*f, b)``, ``b2 (2, k, b)`` with ``b = dim // k``
    (index 0 real part, 1 imaginary part). With ``mlp_layers=1`` only ``w1 (2, k, b, b)`` and ``b1 (2, k, b)``.

    The spectral part always runs in float32 (float64 for float64 input), also under ``torch.autocast``; the
    output has the input's dtype. The attribute ``tile_bytes`` sets the input bytes per tile of the tiled path.
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
        self.dim = dim
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        self.hidden_size_factor = hidden_size_factor
        self.sparsity_threshold = check_nonnegative_float(sparsity_threshold, "sparsity_threshold")
        self.hard_thresholding_fraction = spectral.check_fraction(hard_thresholding_fraction)
        self.fft_norm = spectral.check_norm(fft_norm)
        self.modes = spectral.check_modes(modes)
        self.mlp_layers = mlp_layers
        self.inner_skip = bool(inner_skip)
        self.hermitian_projection = bool(hermitian_projection)
        if path not in PATHS:
            raise ValueError(f"path: expected one of {PATHS}, got {path!r}")
        self.path = path
        self.keep_activations = bool(keep_activations)
        self.tile_bytes = DEFAULT_TILE_BYTES

        k, b = num_blocks, self.block_size
        hidden = b * hidden_size_factor if mlp_layers == 2 else b
        scale = 0.02
        self.w1 = nn.Parameter(scale * torch.randn(2, k, b, hidden))
        self.b1 = nn.Parameter(scale * torch.randn(2, k, hidden)) if bias else None
        if mlp_layers == 2:
            self.w2 = nn.Parameter(scale * torch.randn(2, k, hidden, b))
            self.b2 = nn.Parameter(scale * torch.randn(2, k, b)) if bias else None
        else:
            self.w2 = None
            self.b2 = None

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
        """``x: (B, H, W, C)`` real -> ``irfft2(AFNO(rfft2(x)))`` (plus ``x`` with ``inner_skip``), same shape and dtype."""
        check_tokens(x, self.dim)
        _, height, width, _ = x.shape
        modes = self.kept_modes(height, width)
        work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        # Autocast would run the matmuls below in bf16/fp16 even on float32 tensors: switch it off here.
        with torch.autocast(device_type=x.device.type, enabled=False):
            path = self.cpu_path(x)
            if path != "plain":
                # CPU irfft applies the Hermitian projection itself, so hermitian_projection=False is the same here.
                args = (x.to(work_dtype).contiguous(), self.w1, self.b1, self.w2, self.b2)
                settings = dict(modes=modes, norm=self.fft_norm, sparsity_threshold=self.sparsity_threshold,
                                inner_skip=self.inner_skip)
                if path == "pocketfft":
                    out = afno_pocketfft(*args, **settings, keep_activations=self.keep_activations)
                else:
                    out = afno_tiled(*args, **settings, tile_bytes=self.tile_bytes)
                return out.to(x.dtype)
            xc = spectral.to_channels_first(x.to(work_dtype))  # (B, C, H, W): the FFT's fast layout
            z = spectral.rfft2_kept(xc, modes, self.fft_norm)  # (B, C, R, m_x)
            del xc  # free each full-size temporary as soon as it is used: peak memory stays near 2x the input
            z = self.spectral_mlp(z)
            y = spectral.irfft2_kept(z, (height, width), modes, self.fft_norm, self.hermitian_projection)
            del z
        if self.inner_skip:
            return spectral.add_channels_first(x, y)  # x + y.permute(0, 2, 3, 1), in one pass
        return y.permute(0, 2, 3, 1).to(x.dtype).contiguous()

    def cpu_path(self, x: torch.Tensor) -> str:
        """The path :meth:`forward` takes for ``x`` (see ``path``): ``"plain"``, ``"pocketfft"`` or ``"tiled"``."""
        # The fast paths' backward is hand-written and first-order: torch.func transforms (vmap, grad, jacrev) take
        # the plain path, which autograd differentiates to any order.
        transformed = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)()
        if self.path == "plain" or x.device.type != "cpu" or transformed:
            return "plain"
        if self.path != "auto":
            return self.path
        # The forward wins from smaller inputs than the backward does. Both limits were measured with the
        # backward that recomputes the spectrum (keep_activations=False); keeping it only makes pocketfft faster.
        recording = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))
        limit = POCKETFFT_MIN_BYTES if recording else POCKETFFT_MIN_BYTES_NO_GRAD
        return "pocketfft" if x.numel() * x.element_size() > limit else "plain"

    def spectral_mlp(self, z: torch.Tensor) -> torch.Tensor:
        """The block-diagonal complex MLP shared by all bins, with ReLU and soft-shrink on real/imag parts.

        Args:
            z: ``(B, C, R, M)`` complex, the kept bins.

        Returns:
            ``(B, C, R, M)`` complex.
        """
        batch, channels, rows, cols = z.shape
        bins = rows * cols
        # The (B, k, b, bins) view of z: each layer is one complex batched matmul, no copies of the spectrum.
        h = z.contiguous().view(batch, self.num_blocks, self.block_size, bins)
        if torch.is_grad_enabled() and (z.requires_grad or self.w1.requires_grad):
            return self._mlp_on_bins(h, inplace=False).view(batch, channels, rows, cols)
        # No graph to record: run the bins in chunks whose hidden activations stay in a CPU core's cache, into one
        # output (peak memory: the input and the output spectrum only). A GPU takes all bins in one launch each.
        out = torch.empty_like(h)
        step = max(256, _CHUNK_BYTES // (channels * self.hidden_size_factor * h.element_size()))
        if z.device.type != "cpu":
            step = max(bins, 1)
        for start in range(0, bins, step):
            self._mlp_on_bins(h[..., start : start + step], inplace=True, out=out[..., start : start + step])
        return out.view(batch, channels, rows, cols)

    def _mlp_on_bins(self, h: torch.Tensor, inplace: bool, out: torch.Tensor | None = None) -> torch.Tensor:
        """``h: (B, k, b, P)`` complex -> ``(B, k, b, P)``; ``inplace`` reuses temporaries and writes the result
        into ``out`` when given (no autograd)."""
        h = _complex_block_matmul(self.w1, h, self.b1)
        if self.mlp_layers == 2:
            if inplace:
                torch.view_as_real(h).relu_()
            else:
                h = torch.view_as_complex(torch.relu(torch.view_as_real(h)))
            h = _complex_block_matmul(self.w2, h, self.b2)
        if out is not None and self.sparsity_threshold > 0:
            # Soft-shrink written straight into the output slice, no temporary: S(h) = h - clamp(h, -lambda, lambda).
            lam, real, target = self.sparsity_threshold, torch.view_as_real(h), torch.view_as_real(out)
            torch.clamp(real, -lam, lam, out=target)
            torch.sub(real, target, out=target)
            return out
        if self.sparsity_threshold > 0:
            h = torch.view_as_complex(F.softshrink(torch.view_as_real(h), lambd=self.sparsity_threshold))
        if out is not None:
            return out.copy_(h)
        return h


# Bytes of hidden activations per chunk of bins in the no-grad MLP (fits in a core's L2 cache).
_CHUNK_BYTES = 1 << 20


def _complex_block_matmul(w: torch.Tensor, h: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Block-diagonal complex linear map, one complex batched matmul (bias fused).

    Args:
        w: ``(2, k, n_in, n_out)`` real/imaginary weights (reference layout, ``out = in @ w``).
        h: ``(B, k, n_in, P)`` complex inputs of each block, ``P`` bins (any strides that ``bmm`` takes).
        bias: ``(2, k, n_out)`` or ``None``.

    Returns:
        ``(B, k, n_out, P)`` complex.
    """
    batch, k, n_in, bins = h.shape
    n_out = w.shape[-1]
    real = h.real.dtype
    # (k, n_out, n_in) complex, expanded over the batch for bmm (a view when batch == 1).
    wc = torch.complex(w[0].to(real), w[1].to(real)).transpose(-1, -2)
    wc = wc.expand(batch, k, n_out, n_in).reshape(batch * k, n_out, n_in)
    h3 = h.reshape(batch * k, n_in, bins)
    if bias is None:
        result = torch.bmm(wc, h3)
    else:
        bc = torch.complex(bias[0].to(real), bias[1].to(real))  # (k, n_out)
        result = torch.baddbmm(bc.expand(batch, k, n_out).reshape(batch * k, n_out, 1), wc, h3)
    return result.view(batch, k, n_out, bins)
