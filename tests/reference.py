"""Plain reference computations written from the paper's equations, for parity tests (slow loops, tiny inputs)."""

from __future__ import annotations

import torch


def afno_per_bin_loop(mixer, x: torch.Tensor) -> torch.Tensor:
    """AFNO's mixed tokens written bin by bin and block by block, channels last, with ``torch.fft.irfft2`` on the CPU.

    For every kept bin m and block j: ``z~ = S(W2_j ReLU(W1_j z + b1_j) + b2_j)`` with complex weights
    ``W = w[0] + i w[1]`` acting as ``z @ W``; ReLU and soft-shrink on real and imaginary parts.
    ``x: (B, H, W, C)`` float64.
    """
    batch, height, width, channels = x.shape
    k, b = mixer.num_blocks, mixer.block_size
    norm = mixer.fft_norm
    spec = torch.fft.rfft2(x, dim=(1, 2), norm=norm)  # (B, H, W//2+1, C)
    out = torch.zeros_like(spec)
    m_y, m_x = mixer.kept_modes(height, width)
    lam = mixer.sparsity_threshold

    def cplx(w):
        return torch.complex(w[0].double(), w[1].double())

    def crelu(v):
        return torch.complex(v.real.clamp_min(0), v.imag.clamp_min(0))

    def shrink(v):
        def s(t):
            return torch.sign(t) * (t.abs() - lam).clamp_min(0)

        return torch.complex(s(v.real), s(v.imag))

    for row in range(height):
        ky = row if row <= height // 2 else row - height
        if abs(ky) >= m_y:
            continue
        for col in range(min(m_x, width // 2 + 1)):
            for j in range(k):
                z = spec[:, row, col, j * b : (j + 1) * b]  # (B, b)
                h = z @ cplx(mixer.w1[:, j])
                if mixer.b1 is not None:
                    h = h + cplx(mixer.b1[:, j])
                if mixer.mlp_layers == 2:
                    h = crelu(h) @ cplx(mixer.w2[:, j])
                    if mixer.b2 is not None:
                        h = h + cplx(mixer.b2[:, j])
                out[:, row, col, j * b : (j + 1) * b] = shrink(h)
    return torch.fft.irfft2(out, s=(height, width), dim=(1, 2), norm=norm)


def reference_afno2d_forward(state_dict: dict, x: torch.Tensor, num_blocks: int, sparsity_threshold: float = 0.01):
    """The forward of NVIDIA's reference ``AFNO2D`` (AFNO-transformer, FourCastNet) at hard-thresholding fraction 1,
    re-implemented plainly from its published structure: channels-last ``rfft2`` of the whole grid, the block MLP as
    real and imaginary ``einsum``s over ``(..., block, channel)``, soft-shrink, ``irfft2``, and the skip ``x + y``
    inside the mixer. ``state_dict``: ``w1 (2, k, b, h)``, ``b1 (2, k, h)``, ``w2 (2, k, h, b)``, ``b2 (2, k, b)``;
    ``x: (B, H, W, C)``.
    """
    w1, b1, w2, b2 = (state_dict[n].to(x.dtype) for n in ("w1", "b1", "w2", "b2"))
    batch, height, width, channels = x.shape
    z = torch.fft.rfft2(x, dim=(1, 2), norm="ortho").reshape(batch, height, width // 2 + 1, num_blocks, -1)

    def mul(a, w):
        return torch.einsum("...bi,bio->...bo", a, w)

    o1r = torch.relu(mul(z.real, w1[0]) - mul(z.imag, w1[1]) + b1[0])
    o1i = torch.relu(mul(z.imag, w1[0]) + mul(z.real, w1[1]) + b1[1])
    o2r = mul(o1r, w2[0]) - mul(o1i, w2[1]) + b2[0]
    o2i = mul(o1i, w2[0]) + mul(o1r, w2[1]) + b2[1]
    o2 = torch.nn.functional.softshrink(torch.stack([o2r, o2i], dim=-1), lambd=sparsity_threshold)
    y = torch.fft.irfft2(torch.view_as_complex(o2).reshape(batch, height, width // 2 + 1, channels),
                         s=(height, width), dim=(1, 2), norm="ortho")
    return x + y


def band_limited_field(size: int, channels: int, max_freq: int, seed: int = 0) -> torch.Tensor:
    """A real ``(1, size, size, channels)`` float64 field made of a few cosines with ``|k| <= max_freq``.

    The same continuous field at every ``size``, so grids of different resolution share their common points.
    """
    gen = torch.Generator().manual_seed(seed)
    coords = torch.arange(size, dtype=torch.float64) / size
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    field = torch.zeros(size, size, channels, dtype=torch.float64)
    for c in range(channels):
        for _ in range(4):
            ky, kx = torch.randint(-max_freq, max_freq + 1, (2,), generator=gen).tolist()
            amp, phase = torch.rand(2, generator=gen, dtype=torch.float64).tolist()
            field[..., c] += amp * torch.cos(2 * torch.pi * (ky * yy + kx * xx) + 6.28 * phase)
    return field[None]
