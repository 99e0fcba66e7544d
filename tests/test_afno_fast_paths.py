"""The fast CPU path of AFNO2d (mixers/_cpu): same outputs and gradients as the readable plain path; path choice,
buffers kept per graph, torch.func, torch.compile and double backward."""

from __future__ import annotations

import pytest
import torch

from afno_tutorial import AFNO2d, spectral
from afno_tutorial.mixers import _cpu
from afno_tutorial.mixers import afno as afno_module
from afno_tutorial.mixers._cpu import block_mlp as afno_block_mlp
from afno_tutorial.mixers._cpu import pocketfft as afno_pocketfft


def _pair(dim=16, weight_scale=0.3, path="pocketfft", **kwargs) -> tuple[AFNO2d, AFNO2d]:
    """The same mixer twice in float64: on the fast path and plain."""
    torch.manual_seed(0)
    fast = AFNO2d(dim, path=path, **kwargs).double()
    with torch.no_grad():
        for p in fast.parameters():  # larger weights so that ReLU and the shrinkage both bite
            p.mul_(weight_scale / 0.02)
    plain = AFNO2d(dim, path="plain", **kwargs).double()
    plain.load_state_dict(fast.state_dict())
    return fast, plain


CASES = [
    ((2, 8, 6), dict(num_blocks=4)),
    ((3, 7, 9), dict(num_blocks=4, hard_thresholding_fraction=0.5)),
    ((2, 12, 10), dict(num_blocks=2, modes=(3, 2), fft_norm="forward")),
    ((1, 9, 8), dict(num_blocks=4, fft_norm="backward", hidden_size_factor=2)),
    ((2, 6, 7), dict(num_blocks=4, mlp_layers=1)),
    ((2, 8, 8), dict(num_blocks=2, bias=False, sparsity_threshold=0.0)),
    ((2, 10, 6), dict(num_blocks=8, sparsity_threshold=0.2, hard_thresholding_fraction=0.7)),
    ((2, 9, 8), dict(num_blocks=4, hard_thresholding_fraction=0.6, inner_skip=True)),
]


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("grid, kwargs", CASES)
def test_outputs_and_all_gradients_equal_the_plain_autograd_path(grid, kwargs, keep):
    # keep=False: the backward recomputes the spectrum and the MLP's activations from the input.
    fast, plain = _pair(keep_activations=keep, **kwargs)
    assert _cpu.cpu_path(fast, torch.empty(1, 2, 2, 16)) == "pocketfft"
    batch, height, width = grid
    x = torch.randn(batch, height, width, 16, dtype=torch.float64)
    grad = torch.randn_like(x)
    results = []
    for mixer in (fast, plain):
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


@pytest.mark.parametrize("skip", [False, True])
def test_gradcheck_through_the_fast_path(skip):
    fast, _ = _pair(8, num_blocks=2, hard_thresholding_fraction=0.6, inner_skip=skip)
    x = torch.randn(2, 5, 6, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fast, (x,))
    params = [fast.w1, fast.b1, fast.w2, fast.b2]
    settings = dict(modes=(2, 3), norm="ortho", sparsity_threshold=0.01, inner_skip=skip)
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
def test_pocketfft_forward_without_a_graph_equals_the_plain_path(grid, kwargs):
    fast, plain = _pair(path="pocketfft", **kwargs)
    x = torch.randn(*grid, 16, dtype=torch.float64)
    with torch.no_grad():
        y = fast(x)
    torch.testing.assert_close(y, plain(x), rtol=1e-12, atol=1e-12)


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


def test_pocketfft_two_graphs_alive_at_once_give_the_plain_gradients_in_either_order():
    """Each call keeps buffers of its own for its backward: two graphs alive at once, their backward passes in
    either order, give the plain path's outputs and gradients."""
    fast, plain = _pair(num_blocks=4, path="pocketfft", hard_thresholding_fraction=0.7)
    x1, x2 = (torch.randn(2, 8, 6, 16, dtype=torch.float64, requires_grad=True) for _ in range(2))
    y1, y2 = fast(x1), fast(x2)
    g1, g2 = torch.randn_like(y1), torch.randn_like(y2)
    y2.backward(g2)
    y1.backward(g1)
    for x, y, g in ((x1, y1, g1), (x2, y2, g2)):
        xp = x.detach().clone().requires_grad_()
        yp = plain(xp)
        yp.backward(g)
        torch.testing.assert_close(y, yp)
        torch.testing.assert_close(x.grad, xp.grad)


def test_gradient_of_only_the_input_or_only_the_weights():
    fast, plain = _pair(num_blocks=4)
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64)
    for mixer in (fast, plain):
        mixer.requires_grad_(False)
    xi = x.clone().requires_grad_()
    fast(xi).sum().backward()
    xp = x.clone().requires_grad_()
    plain(xp).sum().backward()
    torch.testing.assert_close(xi.grad, xp.grad)
    fast.requires_grad_(True)
    plain.requires_grad_(True)
    fast(x).sum().backward()
    plain(x).sum().backward()
    torch.testing.assert_close(fast.w1.grad, plain.w1.grad)


def test_float32_weights_with_float64_input_give_float32_gradients():
    torch.manual_seed(0)
    mixer = AFNO2d(16, num_blocks=4, path="pocketfft")
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64, requires_grad=True)
    y = mixer(x)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert mixer.w1.grad.dtype == torch.float32 and x.grad.dtype == torch.float64


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
    # (real inner products, adjoint norm): the identities the hand-written backward is built on.
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
    for path in ("plain", "pocketfft"):
        assert _cpu.cpu_path(AFNO2d(16, num_blocks=4, path=path), x) == path
    auto = AFNO2d(16, num_blocks=4)
    assert _cpu.cpu_path(auto, x) == "plain"  # small: the plain path
    large = torch.empty(1, 64, _cpu.MIN_BYTES // 4096 + 1, 16)
    assert _cpu.cpu_path(auto, large) == "pocketfft"
    assert _cpu.cpu_path(AFNO2d(16, num_blocks=4, path="plain"), large) == "plain"
    # The same limit whether a graph is recorded or not.
    medium = torch.empty(1, 64, _cpu.MIN_BYTES // 4096, 16)
    assert medium.numel() * 4 == _cpu.MIN_BYTES and _cpu.cpu_path(auto, medium) == "plain"
    with torch.no_grad():
        assert _cpu.cpu_path(auto, medium) == "plain" and _cpu.cpu_path(auto, large) == "pocketfft"
    # A batch of small grids stays on the readable path whatever its size.
    side = int(_cpu.MIN_TOKENS**0.5) - 1
    many_small = torch.empty(_cpu.MIN_BYTES // (side * side * 64) + 1, side, side, 16)
    assert many_small.numel() * 4 > _cpu.MIN_BYTES and _cpu.cpu_path(auto, many_small) == "plain"
    frozen = AFNO2d(16, num_blocks=4).requires_grad_(False)
    assert _cpu.cpu_path(frozen, large) == "pocketfft" and _cpu.cpu_path(frozen, medium) == "plain"
    meta = torch.empty(1, 6, 6, 16, device="meta")
    assert _cpu.cpu_path(AFNO2d(16, num_blocks=4, path="pocketfft"), meta) == "plain"  # other devices: plain
    with pytest.raises(ValueError, match="path: expected one of"):
        AFNO2d(16, path="fast")
    with pytest.raises(ValueError, match="path: expected one of"):
        AFNO2d(16, path="tiled")


def test_the_forward_enters_the_fast_path_only_where_cpu_path_says(monkeypatch):
    calls = []
    monkeypatch.setattr(afno_module, "afno_cpu", lambda mixer, x: calls.append(x.shape) or torch.zeros_like(x))
    auto = AFNO2d(16, num_blocks=4)
    with torch.no_grad():
        auto(torch.randn(1, 6, 6, 16))
        assert not calls
        auto(torch.randn(1, 1, _cpu.MIN_BYTES // 64 + 1, 16))
    assert len(calls) == 1


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


def test_torch_func_transforms_take_the_plain_path_and_agree(monkeypatch):
    fast, plain = _pair(num_blocks=4)
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64)
    entered = []
    monkeypatch.setattr(afno_module, "afno_cpu", lambda *a: entered.append(1) or _cpu.afno_cpu(*a))
    grad_func = torch.func.grad(lambda xx: fast(xx).pow(2).sum())(x)
    xp = x.clone().requires_grad_()
    plain(xp).pow(2).sum().backward()
    torch.testing.assert_close(grad_func, xp.grad)
    batched = torch.func.vmap(fast)(x.expand(3, -1, -1, -1, -1))
    torch.testing.assert_close(batched[1], plain(x))
    params = {n: p.detach() for n, p in fast.named_parameters()}
    grads = torch.func.grad(lambda p: torch.func.functional_call(fast, p, (x,)).pow(2).sum())(params)
    plain.zero_grad()
    plain(x).pow(2).sum().backward()
    torch.testing.assert_close(grads["w1"], plain.w1.grad)
    assert not entered  # the transforms' wrapped tensors have no memory the fast path could read
    fast(x)
    assert entered  # outside a transform it does run


def test_double_backward_raises_an_error_that_names_the_plain_path_at_every_size():
    fast, plain = _pair(num_blocks=4, path="auto")
    for shape in [(1, 6, 6, 16), (1, 1, _cpu.MIN_BYTES // 64 + 1, 16)]:
        x = torch.randn(*shape, requires_grad=True)
        mixer = fast.float()
        if _cpu.cpu_path(mixer, x) == "plain":
            (g,) = torch.autograd.grad(mixer(x).pow(2).sum(), x, create_graph=True)
            g.sum().backward()  # small inputs take the plain path: double backward works
            continue
        with pytest.raises(RuntimeError, match="path='plain'"):
            torch.autograd.grad(mixer(x).pow(2).sum(), x, create_graph=True)
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(plain(x).pow(2).sum(), x, create_graph=True)
    assert torch.autograd.gradcheck(lambda t: torch.autograd.grad(plain(t).pow(2).sum(), t, create_graph=True)[0],
                                    (x,))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own imports use torch.jit APIs
def test_torch_compile_runs_the_fast_path_as_one_eager_call():
    fast, plain = _pair(num_blocks=4)
    compiled = torch.compile(fast)
    x = torch.randn(2, 6, 6, 16, dtype=torch.float64, requires_grad=True)
    y = compiled(x)
    y.pow(2).sum().backward()
    xp = x.detach().clone().requires_grad_()
    plain(xp).pow(2).sum().backward()
    torch.testing.assert_close(y, plain(x))
    torch.testing.assert_close(x.grad, xp.grad)
    torch.testing.assert_close(fast.w2.grad, plain.w2.grad)
