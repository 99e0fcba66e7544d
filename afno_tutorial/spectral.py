"""The ``rfft2`` layout and the truncated transforms every spectral mixer uses.

Layout of ``torch.fft.rfft2`` on an ``(H, W)`` grid: the spectrum has shape ``(H, W//2 + 1)``. Row ``r`` holds the
row frequency ``k_y = r`` for ``r < (H+1)//2`` and ``k_y = r - H`` from there on (both signs; the Nyquist row
``r = H/2`` of an even ``H`` is its own negative, labelled ``-H/2`` as ``fftfreq`` does). Column ``c`` holds
``k_x = c >= 0`` only: the negative ``k_x`` half is the complex conjugate of the stored one (Hermitian symmetry of
a real signal), so it is not stored.

A *kept set* ``modes = (m_y, m_x)`` means ``|k_y| < m_y`` and ``k_x < m_x``: the lowest frequencies on both signs
of the row axis and the lowest of the half-spectrum axis, each axis counted from its own size. The transforms
below compute only those bins, in the layout the FFT library is fast in (channels first).
"""

from __future__ import annotations

import contextlib
import math
from typing import Literal

import torch

from .checks import check_float, check_pair

FFTNorm = Literal["ortho", "forward", "backward"]
_NORMS = ("ortho", "forward", "backward")


def check_norm(norm: str) -> str:
    if norm not in _NORMS:
        raise ValueError(f"fft_norm: expected one of {_NORMS}, got {norm!r}")
    return norm


def autocast_off(device: torch.device) -> contextlib.AbstractContextManager:
    """A context with ``torch.autocast`` switched off on ``device`` (nothing to switch off where autocast does not
    exist, as on the ``meta`` device, which then still computes output shapes)."""
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:
        return contextlib.nullcontext()


def frequency_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer frequencies of every ``rfft2`` bin.

    Returns ``(k_y, k_x)``, each ``(H, W//2 + 1)`` long tensors: ``k_y`` in ``[-(H-1)//2, H//2]`` (both signs),
    ``k_x`` in ``[0, W//2]``.
    """
    ky = torch.fft.fftfreq(height, d=1.0 / height).round().long()
    kx = torch.arange(width // 2 + 1)
    return torch.meshgrid(ky, kx, indexing="ij")


def max_modes(height: int, width: int) -> tuple[int, int]:
    """The largest kept set of a grid: every distinct ``|k_y|`` (``H//2 + 1`` of them) and every ``k_x``."""
    return height // 2 + 1, width // 2 + 1


def modes_from_fraction(height: int, width: int, fraction: float) -> tuple[int, int]:
    """Kept-set size for a ``hard_thresholding_fraction``: that fraction of the distinct frequencies of each axis.

    ``fraction=1`` keeps everything; at least one frequency (the DC) is always kept on each axis.
    """
    check_fraction(fraction)
    ny, nx = max_modes(height, width)
    # The small epsilon guards against 0.29 * 100 = 28.999... flooring to 28.
    return max(1, math.floor(fraction * ny + 1e-9)), max(1, math.floor(fraction * nx + 1e-9))


def check_fraction(fraction: float, name: str = "hard_thresholding_fraction") -> float:
    """A fraction of the frequencies to keep, in ``(0, 1]``."""
    return check_float(fraction, name, low=0.0, low_open=True, high=1.0)


def check_modes(modes: tuple[int, int] | None, name: str = "modes") -> tuple[int, int] | None:
    """Validate a ``(m_y, m_x)`` pair of positive ints (``None`` passes through)."""
    if modes is None:
        return None
    return check_pair(modes, name, square=False, axes="(m_y, m_x)", what="mode counts (m_y, m_x) >= 1")


def check_modes_fit(modes: tuple[int, int], height: int, width: int, *, allow_nyquist_row: bool = True) -> None:
    """Raise if ``modes`` asks for more frequencies than an ``(H, W)`` grid has.

    With ``allow_nyquist_row=False`` (per-mode weights, as in FNO) the ``+k_y`` and ``-k_y`` rows must be distinct
    bins, i.e. ``2*m_y - 1 <= H``.
    """
    m_y, m_x = modes
    ny = height // 2 + 1 if allow_nyquist_row else (height + 1) // 2
    nx = width // 2 + 1
    if m_y > ny or m_x > nx:
        raise ValueError(
            f"modes: {modes} is larger than the grid allows for H={height}, W={width}: "
            f"expected m_y <= {ny} and m_x <= {nx}"
        )


def kept_row_count(height: int, m_y: int) -> int:
    """Number of rows of the kept set: ``|k_y| < m_y`` on both signs (``2*m_y - 1`` rows, at most ``H``)."""
    return min(height, 2 * m_y - 1)


def kept_mode_mask(height: int, width: int, modes: tuple[int, int]) -> torch.Tensor:
    """Boolean ``(H, W//2 + 1)`` mask of the kept set ``|k_y| < m_y, k_x < m_x``."""
    ky, kx = frequency_grid(height, width)
    return (ky.abs() < modes[0]) & (kx < modes[1])


def reference_kept_mask(height: int, width: int, fraction: float, implementation: str) -> torch.Tensor:
    """The ``(H, W//2 + 1)`` bins that a public reference implementation actually keeps, for comparison.

    - ``"nvlabs"`` (AFNO-transformer ``afno2d.py``): ``kept = int((H*W//2 + 1) * fraction)`` columns of the
      ``k_x`` axis, no rows dropped. Since ``H*W//2 + 1`` is about ``H`` times the number of columns, any
      fraction above about ``1/H`` keeps everything.
    - ``"fourcastnet"`` (FourCastNet / physicsnemo): rows ``[H//2+1-kept, H//2+1+kept)`` of the un-shifted
      spectrum, i.e. the *highest* ``|k_y|``, and the first ``kept`` columns, with ``kept = int((H//2+1)*fraction)``.
    - ``"afno_tutorial"``: this library's kept set (lowest ``|k_y|`` on both signs, lowest ``k_x``).
    """
    check_fraction(fraction)
    mask = torch.zeros(height, width // 2 + 1, dtype=torch.bool)
    if implementation == "nvlabs":
        kept = int((height * width // 2 + 1) * fraction)
        mask[:, :kept] = True
    elif implementation == "fourcastnet":
        total = height // 2 + 1
        kept = int(total * fraction)
        mask[max(0, total - kept) : total + kept, :kept] = True
    elif implementation == "afno_tutorial":
        mask = kept_mode_mask(height, width, modes_from_fraction(height, width, fraction))
    else:
        raise ValueError(
            f"implementation: expected 'nvlabs', 'fourcastnet' or 'afno_tutorial', got {implementation!r}"
        )
    return mask


def rfft2_kept(
    x: torch.Tensor, modes: tuple[int, int], norm: FFTNorm = "ortho", dim: tuple[int, int] = (-2, -1)
) -> torch.Tensor:
    """The kept bins of ``rfft2(x)``, computed without the discarded ones.

    Args:
        x: real, the grid ``(H, W)`` on the dimensions ``dim``: ``(..., H, W)`` by default (channels first), or
            ``(B, H, W, C)`` with ``dim=(1, 2)``.
        modes: ``(m_y, m_x)``, already checked to fit the grid.
        dim: the row and column dimensions of the grid.

    Returns:
        complex, ``H`` replaced by ``R = min(H, 2*m_y - 1)`` and ``W`` by ``m_x``: rows ``k_y = 0, 1, ..., m_y-1``
        then ``k_y = -(m_y-1), ..., -1`` (the ``rfft2`` row order with the middle removed).
    """
    row_dim, col_dim = (d % x.ndim for d in dim)
    height, width = x.shape[row_dim], x.shape[col_dim]
    m_y, m_x = modes
    if x.numel() == 0:
        shape = list(x.shape)
        shape[row_dim], shape[col_dim] = kept_row_count(height, m_y), m_x
        return _empty_result(x, shape, torch.complex128 if x.dtype == torch.float64 else torch.complex64)
    if m_x == width // 2 + 1:
        # One 2-D transform is the fastest when all columns stay.
        z = torch.fft.rfft2(x, dim=(row_dim, col_dim), norm=norm)
    else:
        # Transform the half-spectrum axis first, then only the kept columns along the rows.
        z = torch.fft.rfft(x, dim=col_dim, norm=norm).narrow(col_dim, 0, m_x)
        z = torch.fft.fft(z, dim=row_dim, norm=norm)
    if kept_row_count(height, m_y) < height:
        z = torch.cat((z.narrow(row_dim, 0, m_y), z.narrow(row_dim, height - m_y + 1, m_y - 1)), dim=row_dim)
    return z


def irfft2_kept(
    z: torch.Tensor,
    size: tuple[int, int],
    modes: tuple[int, int],
    norm: FFTNorm = "ortho",
    hermitian_projection: bool = True,
    dim: tuple[int, int] = (-2, -1),
) -> torch.Tensor:
    """Inverse of :func:`rfft2_kept`: a real field of grid ``size`` whose spectrum is ``z`` on the kept set, 0
    elsewhere.

    Args:
        z: complex, ``R`` rows and ``m_x`` columns on the dimensions ``dim``, rows in the order :func:`rfft2_kept`
            returns.
        size: ``(H, W)`` of the output grid.
        hermitian_projection: after a nonlinearity the ``k_x = 0`` (and Nyquist) column is no longer Hermitian
            along ``k_y`` and no real field has that spectrum. ``True`` takes the real field closest to it: inverse
            FFT over rows, drop the imaginary part of those columns, then the real inverse over ``k_x``. This is
            what CPU ``irfft2`` does implicitly; doing it explicitly makes CUDA give the same answer. ``False``
            hands the spectrum to ``torch.fft.irfft2`` as the reference code does (device-dependent).
        dim: the row and column dimensions of the grid in ``z`` and in the output.
    """
    height, width = size
    m_y, m_x = modes
    row_dim, col_dim = (d % z.ndim for d in dim)
    if z.numel() == 0:
        shape = list(z.shape)
        shape[row_dim], shape[col_dim] = height, width
        return _empty_result(z, shape, z.real.dtype)
    rows = z.shape[row_dim]
    if rows < height:
        shape = list(z.shape)
        shape[row_dim] = height
        full = z.new_empty(shape)  # zero only the dropped rows, not the whole buffer
        full.narrow(row_dim, 0, m_y).copy_(z.narrow(row_dim, 0, m_y))
        full.narrow(row_dim, m_y, height - 2 * m_y + 1).zero_()
        full.narrow(row_dim, height - m_y + 1, m_y - 1).copy_(z.narrow(row_dim, m_y, m_y - 1))
        z = full
    if not hermitian_projection:
        if m_x < width // 2 + 1:
            pad = [0, 0] * (z.ndim - 1 - col_dim) + [0, width // 2 + 1 - m_x]
            z = torch.nn.functional.pad(z, pad)
        return torch.fft.irfft2(z, s=(height, width), dim=(row_dim, col_dim), norm=norm)
    t = torch.fft.ifft(z, dim=row_dim, norm=norm)
    if t.device.type != "cpu":
        # CPU real inverse FFTs (MKL, pocketfft) read only the real part of the k_x = 0 and Nyquist bins, which
        # is exactly this projection; elsewhere (cuFFT) it must be explicit. Skipping it on CPU saves two
        # full-size temporaries; tests check both give the same field.
        t = _drop_imaginary_of_real_columns(t, width, col_dim)
    return torch.fft.irfft(t, n=width, dim=col_dim, norm=norm)


def _empty_result(x: torch.Tensor, shape: list[int], dtype: torch.dtype) -> torch.Tensor:
    """The empty tensor of ``shape`` a transform of the empty ``x`` returns (CPU FFT libraries refuse empty
    batches), still part of ``x``'s autograd graph."""
    total = x.sum()
    return (total.real if total.is_complex() else total).to(dtype).expand(shape).contiguous()


def real_column_weights(width: int, m_x: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(m_x,)`` multiplicity of each kept ``k_x`` column in the full spectrum: 1 for ``k_x = 0`` and the Nyquist
    column of an even ``W`` (their own conjugate twins), 2 for the others (they stand for ``+k_x`` and ``-k_x``).

    The adjoint of :func:`irfft2_kept` is :func:`rfft2_kept` times these weights; that of :func:`rfft2_kept` is
    :func:`irfft2_kept` divided by them (with the ``norm`` of the opposite direction, :func:`adjoint_norm`).
    """
    weights = torch.full((m_x,), 2.0, dtype=dtype, device=device)
    weights[0] = 1.0
    if width % 2 == 0 and m_x == width // 2 + 1 and width > 1:
        weights[-1] = 1.0
    return weights


def adjoint_norm(norm: str) -> str:
    """The ``norm`` whose transform in the other direction is the adjoint: ``ortho`` stays, ``forward`` <->
    ``backward``."""
    return {"ortho": "ortho", "forward": "backward", "backward": "forward"}[check_norm(norm)]


def irfft2_hermitian(z: torch.Tensor, size: tuple[int, int], norm: FFTNorm = "ortho") -> torch.Tensor:
    """``irfft2`` of a full ``(..., H, W//2 + 1)`` spectrum with the explicit Hermitian projection (any device)."""
    return irfft2_kept(z, size, max_modes(*size), norm=norm, hermitian_projection=True)


def _drop_imaginary_of_real_columns(t: torch.Tensor, width: int, col_dim: int = -1) -> torch.Tensor:
    """Zero the imaginary part of the ``k_x = 0`` column, and of the Nyquist column when ``W`` is even and kept.

    ``t``: complex, already inverse-transformed along rows, columns on ``col_dim``. Those columns are the only
    ones whose negative-``k_x`` twin is the column itself, so a real output requires them to be real.
    """
    col_dim %= t.ndim
    cols = [0]
    if width % 2 == 0 and t.shape[col_dim] == width // 2 + 1 and width > 1:
        cols.append(width // 2)
    keep_imag = torch.ones(t.shape[col_dim], dtype=t.real.dtype, device=t.device)
    keep_imag[cols] = 0.0
    keep_imag = keep_imag.view([-1] + [1] * (t.ndim - 1 - col_dim))
    return torch.complex(t.real, t.imag * keep_imag)


def power_spectrum(x: torch.Tensor, norm: FFTNorm = "ortho") -> torch.Tensor:
    """Mean power ``|rfft2|^2`` over batch and channels of token features.

    Args:
        x: ``(B, H, W, C)`` real.

    Returns:
        ``(H, W//2 + 1)`` float tensor in the ``rfft2`` layout.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected 4 dimensions (B, H, W, C), got shape {tuple(x.shape)}")
    spec = torch.fft.rfft2(x.detach().float().permute(0, 3, 1, 2), norm=norm)
    return spec.abs().pow(2).mean(dim=(0, 1))
