#!/usr/bin/env bash
# Seeds x augmentation presets for one model, then closure calibration on synthetic validation
# data, then (when real dev data is there) bench/transfer.py over every run: the spread of the
# transfer numbers over seeds, default vs strong randomisation, with one command. On a GPU it also
# measures bf16 autocast throughput and runs a 2-process DDP smoke test.
#
#   bench/gpu_train_sweep.sh DATA OUT
#
# DATA   a dataset (manifest contract) with a split column (`python -m manifests split DATA
#        --ratios 0.8 0.1 0.1`), e.g. one packed by bench/pack_eye_dataset.py
# OUT    results: runs/<preset>-s<seed>/{last.pt,calibrated.pt,metrics.csv,...}, sweep.md and
#        sweep.json (per-run numbers and mean / std / min / max per preset), transfer.md/.json,
#        throughput.json, ddp.json, logs/
# Environment (defaults in brackets):
#   PY [python]  SEEDS ["0 1 2 3"]  PRESETS ["default strong affine"]  MODEL [blinkformer_cnn_tiny]
#   EPOCHS [20]  BATCH [16]  LR [5e-4]  PARALLEL [8: runs at once]  DEVICE [auto]
#   THREADS [1: torch threads per run]  WORKERS [1: DataLoader workers per run]
#   REAL [../shared/realdata when it exists: real dev data for bench/transfer.py; measurement only]
#   GPU_CHECKS [1: bf16 throughput + DDP smoke when CUDA is there]  CACHE_WORKERS [4]
#   SLIM [1: keep only calibrated.pt (model-only, float16 weights, ~10 MB for cnn_tiny) of each run,
#         so OUT stays small enough to copy back]
# Example (one H200, 16 cores, no internet):
#   PY=python SEEDS="0 1 2 3" PARALLEL=8 bench/gpu_train_sweep.sh runs/pack/eyes_s11 "$OUT"
set -uo pipefail
DATA=${1:?usage: bench/gpu_train_sweep.sh DATA OUT}
OUT=${2:?usage: bench/gpu_train_sweep.sh DATA OUT}
PY=${PY:-python}
SEEDS=${SEEDS:-"0 1 2 3"}
PRESETS=${PRESETS:-"default strong affine"}
MODEL=${MODEL:-blinkformer_cnn_tiny}
EPOCHS=${EPOCHS:-20}
BATCH=${BATCH:-16}
LR=${LR:-5e-4}
PARALLEL=${PARALLEL:-8}
DEVICE=${DEVICE:-auto}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}
GPU_CHECKS=${GPU_CHECKS:-1}
CACHE_WORKERS=${CACHE_WORKERS:-4}
SLIM=${SLIM:-1}
if [ -z "${REAL+x}" ] && [ -d ../shared/realdata ]; then REAL=../shared/realdata; fi
REAL=${REAL:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
cd "$REPO" || exit 2
if [ ! -f "$DATA/frames.csv" ]; then echo "error: $DATA/frames.csv not found (DATA must be a dataset directory)" >&2; exit 2; fi
mkdir -p "$OUT/logs" "$OUT/runs"

# 1) build the crop caches once (concurrent runs would each build the same one)
for preset in $PRESETS; do
  "$PY" - "$DATA" "$preset" "$CACHE_WORKERS" <<'EOF' >> "$OUT/logs/cache.log" 2>&1 || { echo "error: cache build failed (see $OUT/logs/cache.log)" >&2; exit 2; }
import sys
from trainer.augment import WindowAugment
from trainer.data import EyeWindowDataset
w = int(sys.argv[3])
EyeWindowDataset(sys.argv[1], split="train", augment=WindowAugment(sys.argv[2]), cache_workers=w)
EyeWindowDataset(sys.argv[1], split="val", augment=None, cache_workers=w)
print("cache ready for", sys.argv[2])
EOF
done

# 2) the runs, PARALLEL at a time; each: train -> calibrate on synthetic val (never real data)
run_one() {
  local preset=$1 seed=$2 run="$OUT/runs/$1-s$2"
  "$PY" -m trainer.fit --data "$DATA" --out "$run" --model "$MODEL" --epochs "$EPOCHS" --batch-size "$BATCH" \
      --lr "$LR" --seed "$seed" --augment-preset "$preset" --threads "$THREADS" --num-workers "$WORKERS" \
      --device "$DEVICE" --no-progress > "$OUT/logs/$preset-s$seed.log" 2>&1 \
  && "$PY" -m trainer.calibrate --checkpoint "$run/last.pt" --out "$run/calibrated.pt" --threads "$THREADS" --half \
      >> "$OUT/logs/$preset-s$seed.log" 2>&1 \
  && { [ "$SLIM" != 1 ] || rm -f "$run/last.pt" "$run/best.pt"; } \
  || echo "run $preset-s$seed failed (see $OUT/logs/$preset-s$seed.log)" >&2
}
export -f run_one
export OUT DATA PY MODEL EPOCHS BATCH LR THREADS WORKERS DEVICE SLIM
t0=$(date +%s)
for seed in $SEEDS; do for preset in $PRESETS; do echo "$preset $seed"; done; done \
  | xargs -P "$PARALLEL" -L 1 bash -c 'run_one "$0" "$1"'
echo "{\"runs_seconds\": $(( $(date +%s) - t0 ))}" > "$OUT/sweep_time.json"

# 3) transfer to the real dev sets (measurement only), and the spread per preset
CKPTS=$(ls "$OUT"/runs/*/calibrated.pt 2>/dev/null)
if [ -n "$REAL" ] && [ -n "$CKPTS" ]; then
  "$PY" bench/transfer.py $CKPTS --real "$REAL" --out "$OUT/transfer.md" --json "$OUT/transfer.json" \
      --threads "$THREADS" > "$OUT/logs/transfer.log" 2>&1 || echo "transfer failed (see $OUT/logs/transfer.log)" >&2
fi
"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
out = Path(sys.argv[1])
rows = []
for run in sorted((out / "runs").glob("*-s*")):
    preset, seed = run.name.rsplit("-s", 1)
    r = dict(run=run.name, preset=preset, seed=int(seed))
    if (run / "metrics.csv").is_file():
        m = pd.read_csv(run / "metrics.csv").iloc[-1]
        r.update(epochs=int(m["epoch"]), val_f1=float(m["val_f1"]), val_closure_mae=float(m["val_closure_mae"]))
    rows.append(r)
tj = out / "transfer.json"
if tj.is_file():
    for t in json.loads(tj.read_text()):
        name = Path(t["checkpoint"]).parent.name
        for r in rows:
            if r["run"] == name:
                for s, e in t["eye_state"].items():
                    r[f"{s}_auroc"], r[f"{s}_bal_acc"] = e["auroc_closure"], e["balanced_accuracy"]
                v = t["videos"]
                if "model" in v:
                    r.update(video_f1=v["model"]["f1"], video_p=v["model"]["precision"], video_r=v["model"]["recall"])
if not rows:
    (out / "sweep.md").write_text("no runs (SEEDS or PRESETS empty)\n")
    sys.exit(0)
df = pd.DataFrame(rows)
num = [c for c in df.columns if c not in ("run", "preset", "seed")]
spread = df.groupby("preset")[num].agg(["mean", "std", "min", "max", "count"]) if len(df) else pd.DataFrame()
(out / "sweep.json").write_text(json.dumps(dict(runs=rows, spread={f"{p}/{c}/{s}": v for (c, s), col in spread.items()
                                                                  for p, v in col.items()}), indent=1, default=float))
lines = ["| run | " + " | ".join(num) + " |", "|" + "---|" * (len(num) + 1)]
lines += ["| " + r["run"] + " | " + " | ".join(f"{r.get(c, float('nan')):.3f}" for c in num) + " |" for r in rows]
lines += ["", "| preset | " + " | ".join(f"{c} mean +- std [min, max] (n)" for c in num) + " |", "|" + "---|" * (len(num) + 1)]
for p in spread.index:
    lines.append(f"| {p} | " + " | ".join(f"{spread.loc[p, (c, 'mean')]:.3f} +- {spread.loc[p, (c, 'std')]:.3f} "
                                          f"[{spread.loc[p, (c, 'min')]:.3f}, {spread.loc[p, (c, 'max')]:.3f}] "
                                          f"({int(spread.loc[p, (c, 'count')])})" for c in num) + " |")
(out / "sweep.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF

# 4) GPU checks: bf16 autocast throughput (train steps/s, fp32 vs bf16) and a 2-process DDP smoke run
if [ "$GPU_CHECKS" = 1 ] && "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  "$PY" - "$OUT" "$MODEL" <<'EOF' > "$OUT/logs/throughput.log" 2>&1
import json, sys, time
import torch
from trainer.models import create_model
out, name = sys.argv[1], sys.argv[2]
res = {"device": torch.cuda.get_device_name(0), "model": name, "batch_windows": 128, "frames_per_window": 13}
for label, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
    torch.manual_seed(0)
    m = create_model(name).cuda().train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    x = torch.randint(0, 255, (128, 13, 3, 48, 48), dtype=torch.uint8, device="cuda")
    y = torch.rand(128, 13, device="cuda")
    times = []
    for i in range(40):
        torch.cuda.synchronize(); t = time.perf_counter()
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            o = m(x)
        loss = torch.nn.functional.mse_loss(torch.sigmoid(o["closure_logit"].float()), y)
        opt.zero_grad(); loss.backward(); opt.step()
        torch.cuda.synchronize(); times.append(time.perf_counter() - t)
    med = sorted(times[10:])[len(times[10:]) // 2]
    res[label] = {"median_step_s": med, "windows_per_s": 128 / med}
res["bf16_speedup"] = res["fp32"]["median_step_s"] / res["bf16"]["median_step_s"]
json.dump(res, open(f"{out}/throughput.json", "w"), indent=1)
print(res)
EOF
  # DDP smoke: 2 processes, 1 epoch. NCCL refuses two ranks on one GPU, so both backends are tried
  # and what happened is recorded, not assumed.
  ddp_rc_cuda=skipped; ddp_rc_cpu=skipped
  "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 -m trainer.fit --data "$DATA" --out "$OUT/ddp_cuda" \
      --model "$MODEL" --epochs 1 --batch-size "$BATCH" --lr "$LR" --device cuda --no-progress \
      > "$OUT/logs/ddp_cuda.log" 2>&1; ddp_rc_cuda=$?
  "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 -m trainer.fit --data "$DATA" --out "$OUT/ddp_cpu" \
      --model "$MODEL" --epochs 1 --batch-size "$BATCH" --lr "$LR" --device cpu --threads 2 --no-progress \
      > "$OUT/logs/ddp_cpu.log" 2>&1; ddp_rc_cpu=$?
  echo "{\"ddp_2proc_cuda_rc\": $ddp_rc_cuda, \"ddp_2proc_cpu_gloo_rc\": $ddp_rc_cpu, \"logs\": \"logs/ddp_*.log\"}" > "$OUT/ddp.json"
  cat "$OUT/ddp.json"
fi
echo "done: $OUT/sweep.md (transfer.md when REAL was given)"
