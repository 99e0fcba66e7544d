#!/usr/bin/env bash
# Every GPU check and measurement of the project in one go, each step under its own time limit, most important first:
# the scaling benchmark in float32 and bfloat16 and with torch.compile (OUTDIR/cuda_<card>_*), where AFNO's kernel time
# goes (OUTDIR/cuda_<card>_afno_profile.json), the CUDA tests, the spectral MLP on all bins at once (the readable path)
# against the CPU fast path's cache-sized chunks, the readable path against the FFT round trip at 65,536 and 262,144
# tokens in float32 and under bf16 autocast, paired (OUTDIR/cuda_<card>_readable_vs_roundtrip.json), notebook 05's
# comparison at 1024x1024 with attention measured, and the few-shot protocol on the shipped backbones
# (OUTDIR/fewshot/cuda). With RETRAIN=1 it then runs the few-shot GPU setting: the four backbones pretrained at a larger
# scale (width 128, depth 6, 6,000 steps of batch 64 on 8,000 images; the CPU setting is width 64, depth 4), then the
# protocol on them, frozen and fine-tuned, pretrained and random init (OUTDIR/fewshot/cuda-large/<mixer>), all of it
# archived in OUTDIR/fewshot_cuda_large.tar.gz with its log (about 10 minutes on an H200); RETRAIN=only runs just that
# part.
# Needs torch with CUDA, numpy, scipy, matplotlib, tqdm, scikit-image, scikit-learn and pytest; nothing is installed:
# the repository root goes on PYTHONPATH. About 6 minutes on one H200 without RETRAIN.
#
#   bash benchmarks/gpu_checks.sh [OUTDIR] [PYTHON]      # OUTDIR: gpu-results; `benchmarks` rewrites the committed files
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
py=${2:-python3}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
$py -c "from afno_tutorial import config; print(config.describe_device(config.device('cuda'))); print(config.versions())" || exit 1
card=$($py -c "import re, torch; n = torch.cuda.get_device_name(); m = re.search(r'[A-Z]+\d{2,4}', n); print((m.group(0) if m else 'gpu').lower())")

if [[ "${RETRAIN:-0}" != only ]]; then

mixers=(afno 'afno:hard_thresholding_fraction=0.5' roundtrip 'roundtrip:hard_thresholding_fraction=0.5' copy
        afno_reference attention gfn fno)
for dtype in float32 bfloat16; do
  step "scaling benchmark, $dtype"
  timeout 110 $py -m afno_tutorial.bench --device cuda --dtype "$dtype" --mixers "${mixers[@]}" \
    --grids 16 32 64 128 256 512 --dim 256 --batch 1 --modes forward backward --repeats 10 \
    --warmup-seconds 0.25 --time-budget 2 --memory-budget-gb 60 --no-progress --out "$out/cuda_${card}_${dtype}"
done

step "scaling benchmark, torch.compile"
timeout 90 $py -m afno_tutorial.bench --device cuda --mixers afno afno+compile roundtrip --grids 128 256 512 \
  --modes forward backward --repeats 10 --warmup-seconds 0.25 --no-progress --out "$out/cuda_${card}_compile"

step "AFNO kernel time per operator"
timeout 60 $py benchmarks/gpu_profile.py --out "$out/cuda_${card}_afno_profile.json"

step "CUDA tests"
timeout 60 $py -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_config.py \
  tests/test_bench.py::test_cuda_benchmark_path

step "spectral MLP at 256x256, C=256, in the CPU path's chunks and all at once; the readable path against the FFT
round trip (float32, bf16 autocast); notebook 05 at 1024x1024"
timeout 120 $py - "$out/cuda_${card}_readable_vs_roundtrip.json" <<'EOF'
import json, sys, torch
from afno_tutorial import fewshot
from afno_tutorial.bench import build_bench_mixer, make_step
from afno_tutorial.bench.paired import paired_times
from afno_tutorial.fewshot import pretrain
from afno_tutorial.measure import time_step
from afno_tutorial.mixers import AFNO2d
from afno_tutorial.mixers._cpu.block_mlp import BlockMLP

dev = torch.device("cuda")
# The kept spectrum at 256x256 tokens, (B, C, R, M) as AFNO2d.spectral_mlp takes it: the readable path runs the
# block MLP on every bin in one call; the CPU fast path runs it on chunks of bins sized for a core's cache.
mixer = AFNO2d(256).to(dev)
z = torch.randn(1, 256, 256, 129, dtype=torch.complex64, device=dev)
mlp = BlockMLP((mixer.w1, mixer.b1, mixer.w2, mixer.b2), mixer.sparsity_threshold, torch.float32)
rows = max(1, mlp.chunk_rows(4) // z.shape[-1])

def run(step):
    for s in range(0, z.shape[2], step):
        mixer.spectral_mlp(z[:, :, s:s + step])

with torch.no_grad():
    t_chunks = time_step(lambda: run(rows), dev, repeats=20)[0]
    t_one = time_step(lambda: run(z.shape[2]), dev, repeats=20)[0]
print(f"spectral MLP, {z.shape[2] * z.shape[3]} bins: in the CPU path's chunks ({rows} rows, {rows * z.shape[3]} "
      f"bins): {t_chunks * 1e3:.3f} ms; all at once (the readable path): {t_one * 1e3:.3f} ms")

def autocast(step, enabled):
    def call():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=enabled):
            step()
    return call

# The readable path (float32 parameters and input; in float32 and under bf16 autocast) against the float32 FFT
# round trip's forward, timed alternately (median of the per-cycle ratios, quartiles).
rows_out = []
for grid in (256, 512):
    torch.manual_seed(0)
    x = torch.randn(1, grid, grid, 256, device=dev)
    afno = AFNO2d(256, path="plain").to(dev)
    floor = make_step(build_bench_mixer("roundtrip", 256, grid).to(dev), x, "forward")
    for enabled in (False, True):
        for mode in ("forward", "backward"):
            stats = paired_times(autocast(make_step(afno, x, mode), enabled), floor, dev, cycles=21)
            row = {"tokens": grid * grid, "autocast_bf16": enabled, "mode": mode, "ratio": stats["ratio"],
                   "ratio_q1": stats["ratio_q1"], "ratio_q3": stats["ratio_q3"], "afno_s": stats["time_a_s"],
                   "roundtrip_s": stats["time_b_s"], "cycles": stats["cycles"]}
            rows_out.append(row)
            print(f"readable AFNO {mode:8s} {'bf16 autocast' if enabled else 'float32':13s} at {grid * grid:,} "
                  f"tokens: {row['ratio']:.2f}x the round trip [{row['ratio_q1']:.2f}-{row['ratio_q3']:.2f}] "
                  f"({row['afno_s'] * 1e3:.3f} ms against {row['roundtrip_s'] * 1e3:.3f} ms)")
with open(sys.argv[1], "w") as handle:
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows_out}, handle,
              indent=1)

afno, _ = pretrain.load_pretrained("afno")
attention, _ = pretrain.load_pretrained("attention")
scale = fewshot.attention_at_scale(afno, attention, 1024, [64, 128, 256, 512], device=dev, measure_attention=True)
print(scale["note"], f"| AFNO backbone at 1024x1024: {scale['afno_seconds']:.4f} s")
print(json.dumps(scale["measured"]))
EOF

step "few-shot protocol on the shipped backbones (frozen features, pretrained and random init)"
timeout 120 $py -m afno_tutorial.fewshot --device cuda --init pretrained random --out "$out/fewshot/cuda"

fi

if [[ "${RETRAIN:-0}" == 1 || "${RETRAIN:-0}" == only ]]; then
  large="$out/fewshot/cuda-large"
  mkdir -p "$large"
  # One process makes the pretraining images once for all four mixers; --max-minutes stops it resumably and keeps
  # every backbone it finished.
  step "few-shot GPU setting: pretraining the four backbones (width 128, depth 6, 6,000 steps of batch 64)"
  timeout 480 $py -m afno_tutorial.pretrain --dim 128 --depth 6 --steps 6000 --batch-size 64 --images 8000 \
    --max-minutes 7 --out "$large/checkpoints" --state-dir /tmp/pretrain-state --device cuda 2>&1 | tee -a "$large/log.txt"
  for mixer in afno gfn attention fno; do
    [[ -f "$large/checkpoints/$mixer.pt" ]] || continue
    step "few-shot GPU setting: protocol on the $mixer backbone, frozen and fine-tuned"
    timeout 100 $py -m afno_tutorial.fewshot --device cuda --mixer "$mixer" --init pretrained random \
      --mode frozen finetune --checkpoints "$large/checkpoints" --out "$large/$mixer" 2>&1 | tee -a "$large/log.txt"
  done
  tar czf "$out/fewshot_cuda_large.tar.gz" -C "$out/fewshot" cuda-large
fi
step "done"
