"""The fast CPU paths of AFNO2d (pocketfft, tiled): same outputs and gradients as the plain autograd path; tiles
cover the grid once; path choice, torch.func, torch.compile and double backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from afno_tutorial import AFNO2d, spectral
from afno_tutorial.mixers import afno
from afno_tutorial.mixers._cpu import block_mlp as afno_block_mlp
from afno_tutorial.mixers._cpu import pocketfft as afno_pocketfft
from afno_tutorial.mixers._cpu import tiled as afno_tiled
from afno_tutorial.mixers._cpu import buffer_pool

FAST_PATHS = ["pocketfft", "tiled"]


def _pair(dim=16, weight_scale=0.3, tile_bytes=None, path="tiled", **kwargs) -> tuple[AFNO2d, AFNO2d]:
    """The same mixer twice in float64: on a fast path (with small tiles when ``tile_bytes``) and plain."""
    torch.manual_seed(0)
    fast = AFNO2d(dim, path=path, **kwargs).double()
    with torch.no_grad():
        for p in fast.parameters():  # larger weights so that ReLU and the shrinkage both bite
            p.mul_(weight_scale / 0.02)
    plain = AFNO2d(dim, path="plain", **kwargs).double()
    plain.load_state_dict(fast.state_dict())
    if tile_bytes is not None:
        fast.tile_bytes = tile_bytes
    return fast, plain


CASES = [
    ((2, 8, 6), dict(num_blocks=4)),
    ((3, 7, 9), dict(num_blocks=4, hard_thresholding_fraction=0.5)),
    ((2, 12, 10), dict(num_blocks=2, modes=(3, 2), fft_norm="forward")),
    ((1, 9, 8), dict(num_blocks=4, fft_norm="backward", hidden_size_factor=2)),
    ((2, 6, 7), dict(num_blocks=4, mlp_layers=1)),
    ((2, 8, 8), dict(num_blocks=2, bias=False, sparsity_threshold=0.0)),
    ((2, 10, 6), dict(num_blocks=8, sparsity_threshold=0.2, hard_thresholding_fraction=0.7)),
]


@pytest.mark.parametrize("path, tile_bytes, keep", [("pocketfft", None, True), ("pocketfft", None, False),
                                                    ("tiled", None, True), ("tiled", 1, True), ("tiled", 600, True)])
@pytest.mark.parametrize("grid, kwargs", CASES)
def test_outputs_and_all_gradients_equal_the_plain_autograd_path(grid, kwargs, path, tile_bytes, keep):
    # tile_bytes=1: one sample of one block per tile; 600: all samples of a block per tile, or a batch split.
    # keep=False: the pocketfft backward recomputes the spectrum and the MLP's activations from the input.
    tiled, plain = _pair(tile_bytes=tile_bytes, path=path, keep_activations=keep, **kwargs)
    assert tiled.cpu_path(torch.empty(1, 2, 2, 16)) == path
    batch, height, width = grid
    x = torch.randn(batch, height, width, 16, dtype=torch.float64)
    grad = torch.randn_like(x)
    results = []
    for mixer in (tiled, plain):
        xi = x.clone().requires_grad_()
        y = mixer(xi)
        y.backward(grad)
        results.append((y.detach(), xi.grad, {n: p.grad for n, p in mixer.named_parameters()}))
    (y_t, gx_t, gp_t), (y_p, gx_p, gp_p) = results
    torch.testing.assert_close(y_t, y_p, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx_t, gx_p, rtol=1e-10, atol=1e-10)
    assert gp_t.keys() == gp_p.keys()
    for name in gp_p:
        assert gp_p[name].abs().sum() > 0, name  # every parameter matters in these settings
        torch.testing.assert_close(gp_t[name], gp_p[name], rtol=1e-10, atol=1e-10, msg=name)


@pytest.mark.parametrize("path", FAST_PATHS)
def test_gradcheck_through_the_fast_paths(path):
    tiled, _ = _pair(8, num_blocks=2, hard_thresholding_fraction=0.6, tile_bytes=1, path=path)  # tiled: several tiles
    x = torch.randn(2, 5, 6, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tiled, (x,))
    params = [tiled.w1, tiled.b1, tiled.w2, tiled.b2]
    settings = dict(modes=(2, 3), norm="ortho", sparsity_threshold=0.01)
    if path == "tiled":
        fn = lambda *p: afno_tiled.afno_tiled(x.detach(), *p, **settings, tile_bytes=1)  # noqa: E731
    else:
        fn = lambda *p: afno_pocketfft.afno_pocketfft(x.detach(), *p, **settings)  # noqa: E731
    assert torch.autograd.gradcheck(fn, params)


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("layers, threshold", [(2, 0.05), (2, 0.0), (1, 0.05), (1, 0.0)])
def test_pocketfft_keeps_what_its_backward_needs_or_only_the_input(keep, layers, threshold):
    """With a graph recorded, the pocketfft forward saves the MLP's input bins, the hidden activations (two layers)
    and a one-byte shrink mask (with a soft-shrink), or only the input with keep_activations=False; without a
    graph, nothing."""
    torch.manual_seed(0)
    mixer = AFNO2d(16, num_blocks=4, hard_thresholding_fraction=0.5, mlp_layers=layers, sparsity_threshold=threshold,
                   path="pocketfft", keep_activations=keep)
    x = torch.randn(2, 8, 10, 16, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = mixer(x)
        with torch.no_grad():
            mixer(x)
    params = list(mixer.parameters())
    large = sorted((str(t.dtype), t.numel()) for t in saved if all(t is not p for p in params))
    assert mixer.kept_modes(8, 10) == (2, 3)
    bins = 2 * 3 * 3 * 16  # samples x kept rows (|k_y| < 2 of 8) x kept columns (k_x < 3) x channels
    if keep:
        expected = [("torch.float32", 2 * bins)] * (2 if layers == 2 else 1)  # interleaved bins (and hidden)
        expected += [("torch.bool", 2 * bins)] if threshold > 0 else []
        assert large == sorted(expected)
    else:
        assert large == [("torch.float32", x.numel())] and any(t is x for t in saved)
    grad = torch.randn_like(y)
    y.backward(grad)
    plain = AFNO2d(16, num_blocks=4, hard_thresholding_fraction=0.5, mlp_layers=layers, sparsity_threshold=threshold,
                   path="plain")
    plain.load_state_dict(mixer.state_dict())
    xp = x.detach().clone().requires_grad_()
    plain(xp).backward(grad)
    torch.testing.assert_close(x.grad, xp.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mixer.w1.grad, plain.w1.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("grid, kwargs", CASES)
def test_pocketfft_forward_without_a_graph_equals_the_plain_path(grid, kwargs, monkeypatch):
    """Without a graph the MLP runs on the spectrum's bins where they are when a chunk's rows and columns collapse
    into one axis (every column kept), and on gathered copies otherwise; both give the plain path's output."""
    fast, plain = _pair(path="pocketfft", **kwargs)
    x = torch.randn(*grid, 16, dtype=torch.float64)
    in_place = []
    block_rows = afno_pocketfft._block_rows
    monkeypatch.setattr(afno_pocketfft, "_block_rows", lambda v, k: in_place.append(
        (v.shape[0], block_rows(v, k) is not None)) or block_rows(v, k))  # fmt: skip
    with torch.no_grad():
        y = fast(x)
    torch.testing.assert_close(y, plain(x), rtol=1e-12, atol=1e-12)
    m_y, m_x = fast.kept_modes(*grid[1:])
    every_column = m_x == grid[2] // 2 + 1
    assert in_place and all(done == (every_column or rows == 1) for rows, done in in_place)
    assert every_column or any(rows > 1 for rows, _ in in_place)  # the gathered chunks were exercised too


def test_block_rows_is_a_view_of_collapsible_chunks_only():
    spec = torch.randn(1, 6, 5, 8, dtype=torch.complex128)
    rows = afno_pocketfft._block_rows(spec[0, 1:4], 2)  # three full rows: (k, 3 * 5, 2 * 8 // 2)
    assert rows.shape == (2, 15, 8) and rows.data_ptr() == torch.view_as_real(spec)[0, 1].data_ptr()
    torch.testing.assert_close(rows[1, 7], torch.view_as_real(spec[0, 2, 2, 4:]).flatten())  # block 1 of bin (2, 2)
    assert afno_pocketfft._block_rows(spec[0, 1:4, :3], 2) is None  # kept columns only: rows do not collapse
    assert afno_pocketfft._block_rows(spec[0, 2:3, :3], 2).shape == (2, 3, 8)  # a single row always does


def test_block_mlp_refuses_a_mask_when_adding():
    mlp = afno_block_mlp.BlockMLP((torch.zeros(2, 2, 4, 4), None, None, None), 0.1, torch.float32)
    z = torch.zeros(2, 5, 8)
    with pytest.raises(ValueError, match="mask: not available with add=True"):
        mlp.forward_blocks(z, z, mask=torch.zeros(2, 5, 8, dtype=torch.bool), add=True)


def test_pocketfft_frees_what_it_kept_after_the_backward_unless_the_graph_is_retained():
    fast, _ = _pair(num_blocks=4, path="pocketfft")
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64, requires_grad=True)
    y = fast(x)
    y.sum().backward(retain_graph=True)
    first = x.grad.clone()
    y.sum().backward()  # the kept tensors are still there: the same gradient once more
    torch.testing.assert_close(x.grad, 2 * first)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.sum().backward()


def test_pocketfft_reuses_pooled_buffers_only_once_nothing_refers_to_them(monkeypatch):
    """Every buffer of the pocketfft path pooled (poisoned with NaN when handed out): two graphs alive at once get
    buffers of their own, their backward passes in either order give the plain path's gradients, and the buffers
    come back once the graphs, outputs and gradients are freed; a second step then allocates nothing new."""
    monkeypatch.setattr(buffer_pool.POOL, "min_bytes", 0)
    monkeypatch.setattr(buffer_pool.POOL, "_buffers", [])
    empty = buffer_pool.POOL.empty
    monkeypatch.setattr(buffer_pool.POOL, "empty", lambda shape, dtype: _poisoned(empty(shape, dtype)))
    fast, plain = _pair(num_blocks=4, path="pocketfft", hard_thresholding_fraction=0.7)
    x1, x2 = (torch.randn(2, 8, 6, 16, dtype=torch.float64, requires_grad=True) for _ in range(2))
    y1, y2 = fast(x1), fast(x2)
    taken = buffer_pool.POOL.stats()
    assert taken["buffers"] - taken["free_buffers"] == 8  # each graph's kept bins, hidden activations, mask, output
    g1, g2 = torch.randn_like(y1), torch.randn_like(y2)
    y2.backward(g2)
    y1.backward(g1)
    for x, y, g in ((x1, y1, g1), (x2, y2, g2)):
        xp = x.detach().clone().requires_grad_()
        yp = plain(xp)
        yp.backward(g)
        torch.testing.assert_close(y, yp)
        torch.testing.assert_close(x.grad, xp.grad)
    del y1, y2, y  # y: the loop's last output
    x1.grad = x2.grad = None  # the input's gradient is a pooled buffer too
    after = buffer_pool.POOL.stats()
    assert after["free_buffers"] == after["buffers"]
    fast(x1).backward(g1)
    x1.grad = None
    assert buffer_pool.POOL.stats() == after


def test_pocketfft_output_keeps_its_pooled_buffer_while_the_caller_holds_it(monkeypatch):
    """The output is written into a pooled buffer: a later call never writes into an output still held, and the
    buffer of a dropped output serves the next call."""
    monkeypatch.setattr(buffer_pool.POOL, "min_bytes", 0)
    monkeypatch.setattr(buffer_pool.POOL, "_buffers", [])
    fast, plain = _pair(num_blocks=4, path="pocketfft")
    x1, x2 = (torch.randn(1, 8, 8, 16, dtype=torch.float64) for _ in range(2))
    with torch.no_grad():
        y1 = fast(x1)
        y2 = fast(x2)
        assert y1.data_ptr() != y2.data_ptr()
        torch.testing.assert_close(y1, plain(x1))
        torch.testing.assert_close(y2, plain(x2))
        address = y1.data_ptr()
        del y1
        torch.testing.assert_close(fast(x2), y2)
        assert fast(x1).data_ptr() == address


@pytest.mark.parametrize("norm", ["ortho", "forward", "backward"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooled_rfft_equals_scipy_rfft(norm, dtype, monkeypatch):
    import scipy.fft

    monkeypatch.setattr(buffer_pool.POOL, "min_bytes", 0)
    x = np.random.default_rng(0).standard_normal((2, 5, 9, 6)).astype(dtype)
    for a in (x, x[:, :, ::-1]):  # contiguous (written into the pool) and not (scipy.fft.rfft)
        out = afno_pocketfft.rfft_pooled(a, norm)
        expected = scipy.fft.rfft(a, axis=2, norm=norm)
        assert out.dtype == expected.dtype and out.shape == (2, 5, 5, 6)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm", ["ortho", "forward", "backward"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("width", [8, 9])
def test_pooled_irfft_equals_scipy_irfft(norm, dtype, width, monkeypatch):
    import scipy.fft

    monkeypatch.setattr(buffer_pool.POOL, "min_bytes", 0)
    rng = np.random.default_rng(0)
    half = (rng.standard_normal((2, 5, width // 2 + 1, 6)) + 1j * rng.standard_normal((2, 5, width // 2 + 1, 6)))
    half = half.astype(dtype)
    for a in (half, half[:, ::-1]):  # contiguous (written into the pool) and not (scipy.fft.irfft)
        expected = scipy.fft.irfft(a, n=width, axis=2, norm=norm)
        out = afno_pocketfft.irfft_pooled(a.copy() if a.flags.c_contiguous else a, width, norm)
        assert out.dtype == expected.dtype and out.shape == (2, 5, width, 6)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def _poisoned(array):
    array.view(np.uint8)[...] = 255  # NaN in every float: whatever is read before it is written shows
    return array


@pytest.mark.parametrize("path", FAST_PATHS)
def test_gradient_of_only_the_input_or_only_the_weights(path):
    tiled, plain = _pair(num_blocks=4, path=path)
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64)
    for mixer in (tiled, plain):
        mixer.requires_grad_(False)
    xi = x.clone().requires_grad_()
    tiled(xi).sum().backward()
    xp = x.clone().requires_grad_()
    plain(xp).sum().backward()
    torch.testing.assert_close(xi.grad, xp.grad)
    tiled.requires_grad_(True)
    plain.requires_grad_(True)
    tiled(x).sum().backward()
    plain(x).sum().backward()
    torch.testing.assert_close(tiled.w1.grad, plain.w1.grad)


@pytest.mark.parametrize("path", FAST_PATHS)
def test_float32_weights_with_float64_input_give_float32_gradients(path):
    torch.manual_seed(0)
    mixer = AFNO2d(16, num_blocks=4, path=path)
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64, requires_grad=True)
    y = mixer(x)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert mixer.w1.grad.dtype == torch.float32 and x.grad.dtype == torch.float64


@pytest.mark.parametrize("batch, blocks, sample_bytes, tile_bytes", [
    (1, 8, 100, 1000), (4, 8, 100, 1000), (4, 8, 100, 250), (3, 8, 100, 50), (5, 3, 7, 10**9), (1, 1, 10, 1),
    (7, 2, 0, 10),
])  # fmt: skip
def test_tiles_cover_every_sample_and_block_once_within_budget(batch, blocks, sample_bytes, tile_bytes):
    tiles = afno_tiled.plan_tiles(batch, blocks, sample_bytes, tile_bytes)
    seen = torch.zeros(batch, blocks, dtype=torch.long)
    for b0, b1, j in tiles:
        assert 0 <= b0 < b1 <= batch and 0 <= j < blocks
        seen[b0:b1, j] += 1
        # Within the budget unless a single sample's block is already larger.
        assert (b1 - b0) * sample_bytes <= max(tile_bytes, sample_bytes)
    assert (seen == 1).all()


def test_real_block_weight_is_the_complex_product_on_interleaved_parts():
    w = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    z = torch.randn(7, 3, 4, dtype=torch.complex128)
    expected = torch.einsum("nki,kio->nko", z, torch.complex(w[0], w[1]))
    real = torch.einsum("nki,kio->nko", torch.view_as_real(z).flatten(-2), afno_block_mlp.real_block_weight(w))
    torch.testing.assert_close(real, torch.view_as_real(expected).flatten(-2))


@pytest.mark.parametrize("norm", ["ortho", "forward", "backward"])
@pytest.mark.parametrize("size, modes", [((8, 8), (5, 5)), ((9, 7), (3, 2)), ((6, 10), (4, 6))])
def test_truncated_transforms_and_their_adjoints(norm, size, modes):
    # <irfft2_kept(z), y> == <z, rfft2_kept(y) * weights> and <rfft2_kept(x), z> == <x, irfft2_kept(z / weights)>
    # (real inner products, adjoint norm): the identities the tiled backward is built on.
    height, width = size
    adjoint = spectral.adjoint_norm(norm)
    weights = spectral.real_column_weights(width, modes[1], torch.float64)
    x = torch.randn(2, height, width, 3, dtype=torch.float64)
    z = spectral.rfft2_kept(torch.randn_like(x), modes, norm, dim=(1, 2))
    z = z + 0.5j * torch.randn_like(z.real)  # not the spectrum of a real field: Hermitian projection included

    def inner(a, b):
        return (torch.view_as_real(a) * torch.view_as_real(b)).sum() if a.is_complex() else (a * b).sum()

    field = spectral.irfft2_kept(z, size, modes, norm, dim=(1, 2))
    lhs, rhs = inner(field, x), inner(z, spectral.rfft2_kept(x, modes, adjoint, dim=(1, 2)) * weights.view(-1, 1))
    torch.testing.assert_close(lhs, rhs)
    lhs = inner(spectral.rfft2_kept(x, modes, norm, dim=(1, 2)), z)
    rhs = inner(x, spectral.irfft2_kept(z / weights.view(-1, 1), size, modes, adjoint, dim=(1, 2)))
    torch.testing.assert_close(lhs, rhs)


def test_channels_last_transforms_equal_channels_first():
    x = torch.randn(2, 9, 8, 3, dtype=torch.float64)
    first = spectral.rfft2_kept(x.permute(0, 3, 1, 2), (3, 4))
    last = spectral.rfft2_kept(x, (3, 4), dim=(1, 2))
    torch.testing.assert_close(last.permute(0, 3, 1, 2), first)
    torch.testing.assert_close(
        spectral.irfft2_kept(last, (9, 8), (3, 4), dim=(1, 2)).permute(0, 3, 1, 2),
        spectral.irfft2_kept(first, (9, 8), (3, 4)),
    )


def test_path_choice_by_flag_size_and_device():
    x = torch.randn(1, 6, 6, 16)
    for path in ("plain", "pocketfft", "tiled"):
        assert AFNO2d(16, num_blocks=4, path=path).cpu_path(x) == path
    auto = AFNO2d(16, num_blocks=4)
    assert auto.cpu_path(x) == "plain"  # small: the plain path
    large = torch.empty(1, 1, afno.POCKETFFT_MIN_BYTES // 64 + 1, 16)
    assert auto.cpu_path(large) == "pocketfft"
    assert AFNO2d(16, num_blocks=4, path="plain").cpu_path(large) == "plain"
    # Between the two limits: pocketfft when no graph is recorded, plain when autograd will need one.
    medium = torch.empty(1, 1, afno.POCKETFFT_MIN_BYTES_NO_GRAD // 64 + 1, 16)
    assert afno.POCKETFFT_MIN_BYTES_NO_GRAD < medium.numel() * 4 <= afno.POCKETFFT_MIN_BYTES
    assert auto.cpu_path(medium) == "plain"  # parameters require grad
    with torch.no_grad():
        assert auto.cpu_path(medium) == "pocketfft"
    frozen = AFNO2d(16, num_blocks=4).requires_grad_(False)
    assert frozen.cpu_path(medium) == "pocketfft" and frozen.cpu_path(medium.clone().requires_grad_()) == "plain"
    meta = torch.empty(1, 6, 6, 16, device="meta")
    assert AFNO2d(16, num_blocks=4, path="pocketfft").cpu_path(meta) == "plain"  # other devices: plain
    with pytest.raises(ValueError, match="path: expected one of"):
        AFNO2d(16, path="fast")


def test_pocketfft_rejects_what_it_cannot_compute():
    w = torch.zeros(2, 2, 4, 4)
    with pytest.raises(ValueError, match="x: expected a float32 or float64 CPU tensor"):
        afno_pocketfft.afno_pocketfft(torch.zeros(1, 4, 4, 8, dtype=torch.bfloat16), w, None, None, None,
                                      modes=(2, 2), norm="ortho", sparsity_threshold=0.0)  # fmt: skip
    with pytest.raises(ValueError, match="x: expected 8 channels, got 6"):
        afno_pocketfft.afno_pocketfft(torch.zeros(1, 4, 4, 6), w, None, None, None, modes=(2, 2), norm="ortho",
                                      sparsity_threshold=0.0)  # fmt: skip


@pytest.mark.parametrize("height, m_y, expected", [(8, 5, [(0, 8)]), (8, 3, [(0, 3), (6, 8)]), (7, 4, [(0, 7)]),
                                                   (9, 1, [(0, 1), (9, 9)])])  # fmt: skip
def test_kept_row_ranges_are_the_rows_with_small_ky(height, m_y, expected):
    ranges = afno_pocketfft.kept_row_ranges(height, m_y)
    assert ranges == expected
    k_y = torch.fft.fftfreq(height) * height
    rows = [r for r0, r1 in ranges for r in range(r0, r1)]
    assert rows == [r for r in range(height) if abs(k_y[r]) < m_y]


@pytest.mark.parametrize("path", FAST_PATHS)
def test_torch_func_transforms_take_the_plain_path_and_agree(path):
    tiled, plain = _pair(num_blocks=4, path=path)
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64)
    grad_func = torch.func.grad(lambda xx: tiled(xx).pow(2).sum())(x)
    xp = x.clone().requires_grad_()
    plain(xp).pow(2).sum().backward()
    torch.testing.assert_close(grad_func, xp.grad)
    batched = torch.func.vmap(tiled)(x.expand(3, -1, -1, -1, -1))
    torch.testing.assert_close(batched[1], tiled(x))


@pytest.mark.parametrize("path", FAST_PATHS)
def test_double_backward_is_refused_with_a_clear_error(path):
    tiled, _ = _pair(num_blocks=4, path=path)
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(tiled(x).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own imports use torch.jit APIs
@pytest.mark.parametrize("path", FAST_PATHS)
def test_torch_compile_runs_the_fast_paths_as_one_eager_call(path):
    tiled, plain = _pair(num_blocks=4, path=path)
    compiled = torch.compile(tiled)
    x = torch.randn(2, 6, 6, 16, dtype=torch.float64, requires_grad=True)
    y = compiled(x)
    y.pow(2).sum().backward()
    xp = x.detach().clone().requires_grad_()
    plain(xp).pow(2).sum().backward()
    torch.testing.assert_close(y, plain(x))
    torch.testing.assert_close(x.grad, xp.grad)
    torch.testing.assert_close(tiled.w2.grad, plain.w2.grad)


def test_output_and_input_gradient_are_offered_huge_pages_before_they_are_written(monkeypatch):
    """The tiled path writes its output in short runs spread over the whole tensor: it asks for huge pages on the
    output (forward) and on the input's gradient (backward) while they are still unwritten."""
    seen = []

    def record(tensor):
        seen.append((tuple(tensor.shape), tensor.data_ptr()))
        tensor.fill_(float("nan"))  # whatever is there now must be overwritten everywhere
        return False

    monkeypatch.setattr(afno_tiled, "advise_huge_pages", record)
    tiled, plain = _pair(num_blocks=4)
    x = torch.randn(2, 6, 5, 16, dtype=torch.float64, requires_grad=True)
    y = tiled(x)
    assert seen == [((2, 6, 5, 16), y.data_ptr())]
    y.sum().backward()
    assert len(seen) == 2 and seen[1][0] == (2, 6, 5, 16) and seen[1][1] == x.grad.data_ptr()
    xp = x.detach().clone().requires_grad_()
    yp = plain(xp)
    yp.sum().backward()
    torch.testing.assert_close(y, yp)
    torch.testing.assert_close(x.grad, xp.grad)
