"""The benchmark's baselines: what a token mixer is measured against, beside the registered mixers.

- ``roundtrip`` (:class:`FFTRoundTrip`): a bare FFT round trip of the token tensor, the floor of any FFT mixer;
  ``library="torch"`` in PyTorch's fastest layout, ``library="scipy"`` with SciPy's FFT over the channels-last
  tensor, the transforms of AFNO's fast CPU path (the floor the project's timing targets are set against).
- ``afno_reference`` (:class:`ReferenceAFNO2d`): AFNO computed as the public reference code does (channels-last
  FFT over the full spectrum, real/imaginary ``einsum``s): the speed of the usual implementation.
- ``copy`` (:class:`CopyFloor`): ``x.clone()``, the floor of any mixer that writes a new output.

Each has ``forward_flops(height, width)``: FLOPs per image of one forward (``None`` for the copy, which does no
arithmetic).

The SciPy round trip uses the fast path's own transforms (``afno_tutorial.mixers._cpu``), so that the floor and
AFNO run the same FFT code: the one module outside ``mixers.afno`` that imports the private
subpackage (``tests/test_layers.py`` lists it).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import spectral
from ..flops import mixer_flops, rfft2_flops
from ..mixers import AFNO2d
from ..mixers._cpu.scipy_fft import fft_inplace, irfft, rfft


class FFTRoundTrip(nn.Module):
    """A bare FFT round trip of the token tensor, the floor any FFT-based mixer pays; in and out ``(B, H, W, C)``.

    ``library="torch"``: ``irfft2(rfft2(x))`` of the tensor's memory read as ``(B, C, H, W)``, PyTorch's fastest
    layout, with no copies. ``library="scipy"``: SciPy's FFT (pocketfft) over the channels-last tensor as it is,
    one axis at a time (``rfft`` over ``W``, ``fft`` over ``H`` and back, in place where the library allows), the
    transforms of AFNO's ``path="pocketfft"``.

    With ``hard_thresholding_fraction < 1`` only the kept bins are computed and transformed back (the kept set of
    ``AFNO2d`` at that fraction): what truncation saves in the transforms themselves.

    """

    def __init__(self, dim: int, hard_thresholding_fraction: float = 1.0, library: str = "torch") -> None:
        super().__init__()
        if library not in ("torch", "scipy"):
            raise ValueError(f"library: expected 'torch' or 'scipy', got {library!r}")
        self.dim = dim
        self.fraction = spectral.check_fraction(hard_thresholding_fraction)
        self.library = library

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        modes = spectral.modes_from_fraction(height, width, self.fraction)
        if self.library == "scipy":
            return _ScipyRoundTrip.apply(x, modes)
        xc = x.reshape(batch, channels, height, width).float()  # a reinterpretation, not a transpose
        if self.fraction == 1.0:
            y = torch.fft.irfft2(torch.fft.rfft2(xc, norm="ortho"), s=(height, width), norm="ortho")
        else:
            y = spectral.irfft2_kept(spectral.rfft2_kept(xc, modes), (height, width), modes)
        return y.reshape(x.shape).to(x.dtype)

    def forward_flops(self, height: int, width: int) -> float:
        """Both transforms of one image, the transform over ``H`` on the kept columns only."""
        columns = spectral.modes_from_fraction(height, width, self.fraction)[1]
        return self.dim * 2 * rfft2_flops(height, width, columns)


def scipy_round_trip(x: torch.Tensor, modes: tuple[int, int]) -> torch.Tensor:
    """``x: (B, H, W, C)`` -> the field of its kept bins ``|k_y| < m_y, k_x < m_x`` (all of ``x`` when every bin is
    kept), channels-last throughout with SciPy's FFT, ``norm="ortho"``."""
    (m_y, m_x), (height, width) = modes, x.shape[1:3]
    real = x.detach().float().contiguous().numpy()
    half = rfft(real, "ortho")
    kept = half[:, :, :m_x]  # transformed over H and back in place, as AFNO's pocketfft path does
    fft_inplace("fft", kept, axis=1, norm="ortho")
    if spectral.kept_row_count(height, m_y) < height:
        kept[:, m_y : height - m_y + 1] = 0
    fft_inplace("ifft", kept, axis=1, norm="ortho")
    half[:, :, m_x:] = 0
    return torch.from_numpy(irfft(half, width, "ortho")).to(x.dtype)


class _ScipyRoundTrip(torch.autograd.Function):
    """The round trip is an orthogonal projection (the identity when every bin is kept): its own adjoint."""

    @staticmethod
    def forward(ctx, x, modes):  # type: ignore[override]
        ctx.modes = modes
        return scipy_round_trip(x, modes)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return scipy_round_trip(grad, ctx.modes), None


class CopyFloor(nn.Module):
    """``x.clone()``: read the input once and write a freshly allocated output, the floor of any mixer that returns
    a new tensor (on a CPU that includes the page faults of first touching the output)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def forward_flops(self, height: int, width: int) -> None:
        return None  # no arithmetic


class ReferenceAFNO2d(nn.Module):
    """A reference-style AFNO (the public code's structure): channels-last ``rfft2`` over the full spectrum, the
    block MLP as real/imaginary ``einsum``s, ``irfft2``. Same parameters and maths as :class:`AFNO2d` at
    ``hard_thresholding_fraction=1`` (up to the CPU/GPU Hermitian detail); kept here only as a speed baseline.
    """

    def __init__(self, dim: int, num_blocks: int = 8, sparsity_threshold: float = 0.01) -> None:
        super().__init__()
        self.inner = AFNO2d(dim, num_blocks=num_blocks, sparsity_threshold=sparsity_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.inner
        batch, height, width, channels = x.shape
        k, b = m.num_blocks, m.block_size
        z = torch.fft.rfft2(x.float(), dim=(1, 2), norm="ortho").reshape(batch, height, width // 2 + 1, k, b)
        w1, b1, w2, b2 = (p.float() for p in (m.w1, m.b1, m.w2, m.b2))  # the spectrum is float32 whatever x is
        o1r = torch.relu(
            torch.einsum("...bi,bio->...bo", z.real, w1[0]) - torch.einsum("...bi,bio->...bo", z.imag, w1[1]) + b1[0]
        )
        o1i = torch.relu(
            torch.einsum("...bi,bio->...bo", z.imag, w1[0]) + torch.einsum("...bi,bio->...bo", z.real, w1[1]) + b1[1]
        )
        o2r = torch.einsum("...bi,bio->...bo", o1r, w2[0]) - torch.einsum("...bi,bio->...bo", o1i, w2[1]) + b2[0]
        o2i = torch.einsum("...bi,bio->...bo", o1i, w2[0]) + torch.einsum("...bi,bio->...bo", o1r, w2[1]) + b2[1]
        o2 = torch.nn.functional.softshrink(torch.stack([o2r, o2i], dim=-1), lambd=m.sparsity_threshold)
        z = torch.view_as_complex(o2).reshape(batch, height, width // 2 + 1, channels)
        y = torch.fft.irfft2(z, s=(height, width), dim=(1, 2), norm="ortho")
        return y.to(x.dtype)  # the mixed tokens, as AFNO2d returns them (the reference adds x here)

    def forward_flops(self, height: int, width: int) -> float:
        """As :class:`AFNO2d`'s formula (the same maths; its FFTs over the full spectrum are not counted apart)."""
        return mixer_flops(self.inner, (height, width))["total"]




#: Baseline name (as in ``--mixers``) -> its module class.
BASELINES: dict[str, type[nn.Module]] = {
    "roundtrip": FFTRoundTrip,
    "afno_reference": ReferenceAFNO2d,
    "copy": CopyFloor,
}

__all__ = ["BASELINES", "CopyFloor", "FFTRoundTrip", "ReferenceAFNO2d", "scipy_round_trip"]
