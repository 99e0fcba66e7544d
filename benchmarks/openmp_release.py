"""What releasing PyTorch's OpenMP workers before SciPy's transforms buys (afno_tutorial.mixers._cpu.openmp), measured.

Each comparison times the same work with the release off and on, alternately in one process
(afno_tutorial.bench.paired), and reports the median of the per-cycle ratios (off / on) with its quartiles:

1. the inverse FFT over H of a (1, 256, 129, 256) complex64 spectrum right after a PyTorch operator touched a few
   of its rows (the situation of AFNO's inverse transform after its MLP);
2. the same without the PyTorch operator (the control: nothing should change);
3. AFNO2d(256) forward and forward+backward at 256x256 tokens.

    python benchmarks/openmp_release.py --out benchmarks/cpu_2threads_openmp.json
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import scipy.fft
import torch

from afno_tutorial import AFNO2d
from afno_tutorial.bench import make_step
from afno_tutorial.mixers._cpu import openmp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import switch_timing  # noqa: E402  (this folder's shared helper)


def _switch(on: bool) -> None:
    openmp.ENABLED = on


def _inverse_fft_step(spectrum: torch.Tensor, touch: bool) -> Callable[[], None]:
    array = spectrum.numpy()

    def step() -> None:
        if touch:
            spectrum[0, :8].mul_(1.0)  # a PyTorch operator on 8 of the 256 rows, as the MLP's last one would be
        openmp.release_threads()  # does nothing while disabled
        scipy.fft.ifft(array, axis=1, workers=torch.get_num_threads(), norm="ortho", overwrite_x=True)

    return step


def main(argv: list[str] | None = None) -> int:
    args = switch_timing.parser(__doc__).parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not openmp.release_available():
        print("no OpenMP runtime with omp_pause_resource_all in this process: nothing to compare")
        return 0
    torch.manual_seed(0)
    spectrum = torch.randn(1, args.grid, args.grid // 2 + 1, args.dim, dtype=torch.complex64)
    mixer, x = AFNO2d(args.dim), torch.randn(1, args.grid, args.grid, args.dim)
    cases = {
        "inverse FFT over H after a PyTorch operator": _inverse_fft_step(spectrum, touch=True),
        "inverse FFT over H alone (control)": _inverse_fft_step(spectrum, touch=False),
        "AFNO forward": make_step(mixer, x, "forward"),
        "AFNO forward+backward": make_step(mixer, x, "backward"),
    }
    return switch_timing.run("openmp_release.py", args, argv, _switch, cases)


if __name__ == "__main__":
    sys.exit(main())
