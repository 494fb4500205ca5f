#!/usr/bin/env bash
# The GPU check of lrlab, in one script, for a lent GPU machine (at most 6 minutes).
#
#   (a) `lrlab bench train` on ResNet-18, CIFAR-shaped synthetic data, bf16, batch 512:
#       images/s and MFU of the device-resident loader and of a torchvision DataLoader,
#       torch.compile off and on, in one table; saved with provenance to $OUT.
#   (b) fit's GPU paths for a few steps each on a small synthetic CIFAR-shaped Dataset held
#       on the GPU: bf16 autocast, fp16 + GradScaler, channels_last, fp32; prints ok/FAIL.
#
# Run from the repository root:
#   OUT=/path/to/results LRLAB_GIT_COMMIT=$(git rev-parse HEAD) PYTHONPATH=. \
#       bash benchmarks/gpu_check.sh
# The commit may instead be in a file named by LRLAB_GIT_COMMIT_FILE (a copy of the tree
# without .git). Dry run of the logic on a CPU, in seconds, with tiny settings:
#   OUT=/tmp/gpu-check LRLAB_GPU_CHECK_SMOKE=1 PYTHONPATH=. bash benchmarks/gpu_check.sh
# Exit status: 0 when every step passed, 1 otherwise (the files in $OUT say which).
set -u -o pipefail

: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
PYTHON=${PYTHON:-python}
SMOKE=${LRLAB_GPU_CHECK_SMOKE:-0}
COMMIT=${LRLAB_GIT_COMMIT:-}
if [[ -z "$COMMIT" && -n "${LRLAB_GIT_COMMIT_FILE:-}" && -f "${LRLAB_GIT_COMMIT_FILE}" ]]; then
    COMMIT=$(tr -d '[:space:]' < "$LRLAB_GIT_COMMIT_FILE")
fi
if [[ -z "$COMMIT" ]]; then
    COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
fi
export LRLAB_GIT_COMMIT=$COMMIT
status=0

echo "== provenance"
"$PYTHON" - "$OUT/provenance.json" <<'PY' || status=1
import datetime, json, os, platform, sys
import torch
info = {
    "git_commit": os.environ["LRLAB_GIT_COMMIT"],
    "torch_version": torch.__version__,
    "cuda_version": torch.version.cuda,
    "python_version": platform.python_version(),
    "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "smoke": os.environ.get("LRLAB_GPU_CHECK_SMOKE", "0") == "1",
}
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(json.dumps(info))
PY

echo "== packages lrlab needs here"
"$PYTHON" - <<'PY' | tee "$OUT/packages.txt"
import importlib
for name in ("numpy", "torch", "torchvision", "tqdm", "matplotlib"):
    try:
        print(f"{name} {importlib.import_module(name).__version__}")
    except ImportError:
        print(f"{name} MISSING")
PY

echo "== (a) lrlab bench train"
if [[ "$SMOKE" == "1" ]]; then
    bench_args=(--model small_cnn --batch-size 16 --images 256 --steps 2 --warmup 1
                --workers 0 --device cpu --precision fp32)
    bench_limit=300
    fit_limit=300
else
    # compile off and on (auto on CUDA); time limits keep the whole script under 6 minutes
    bench_args=(--model resnet18 --batch-size 512 --precision bf16 --steps 50 --warmup 10
                --workers 8)
    bench_limit=240
    fit_limit=90
fi
timeout "$bench_limit" "$PYTHON" -m lrlab.cli bench train "${bench_args[@]}" \
    --out "$OUT/bench_train.json" 2>"$OUT/bench_train.stderr" | tee "$OUT/bench_train.txt" \
    || { status=1; echo "FAIL: bench train (see $OUT/bench_train.stderr)"; tail -5 "$OUT/bench_train.stderr"; }

echo "== (b) fit's GPU paths"
timeout "$fit_limit" "$PYTHON" - <<'PY' 2>&1 | tee "$OUT/fit_paths.txt" \
    || { status=1; echo "FAIL: fit paths (exit status $?; 124 = timed out)"; }
import math, os, sys, traceback
import torch
import lrlab
from lrlab import data, models, train

smoke = os.environ.get("LRLAB_GPU_CHECK_SMOKE", "0") == "1"
device = lrlab.device()
gen = torch.Generator().manual_seed(0)
n = 128 if smoke else 4096
x = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
y = torch.randint(0, 10, (n,), generator=gen)
synthetic = data.Dataset("synthetic", (x, y), (x[:128], y[:128]), range(10), device=device)
batch = 64 if smoke else 512  # 2 or 8 steps per epoch
cases = [
    ("fp32, no channels_last", dict(precision="fp32", channels_last=False)),
    ("bf16 autocast + channels_last", dict(precision="bf16", channels_last=True)),
    ("fp16 autocast + GradScaler", dict(precision="fp16", channels_last=True)),
]
failed = 0
for label, options in cases:
    if options["precision"] == "fp16" and device.type != "cuda":
        print(f"skipped  {label}: needs CUDA")
        continue
    try:
        torch.manual_seed(0)
        net = models.build("small_cnn" if smoke else "resnet18", 10, synthetic.input_shape)
        history = train.fit(net, synthetic, 0.05, epochs=1, batch_size=batch, progress=False,
                            **options)
        conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        checks = {
            "data on the device": synthetic.raw("train")[0].device.type == device.type,
            "model on the device": conv.weight.device.type == device.type,
            "precision used": history.config["precision"] == options["precision"],
            "memory layout": conv.weight.is_contiguous(memory_format=torch.channels_last)
            == options["channels_last"],
            "all steps ran": history.steps == synthetic.num_batches("train", batch)
            and not history.diverged,
            "losses finite": all(math.isfinite(v) for v in history.loss),
        }
        bad = [k for k, ok in checks.items() if not ok]
        loss = f"loss {history.loss[0]:.3f} -> {history.loss[-1]:.3f}"
        print(f"{'ok' if not bad else 'FAIL'}  {label}: {history.steps} steps, {loss}, "
              f"{history.wall_time:.1f} s" + (f"; failed: {', '.join(bad)}" if bad else ""))
        failed += bool(bad)
    except Exception:
        failed += 1
        print(f"FAIL  {label}:\n{traceback.format_exc()}")
sys.exit(1 if failed else 0)
PY

echo "== done: status $status; files in $OUT"
exit $status
