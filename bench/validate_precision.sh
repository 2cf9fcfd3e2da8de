#!/usr/bin/env bash
# bench/validate_precision.sh - bf16 mixed precision against fp32 on nanogpt_shakespeare
# (issue 14, item 2: "the validation curve of nanogpt_shakespeare over 2,000 steps within
# 0.03 nats of fp32's at every evaluation").
#
# Trains configs/nanogpt_shakespeare.yaml twice with the same seed, data and eval cadence
# (eval_every, val_batches of the config): once as shipped (precision fp32, the default) and
# once with `training_config.precision: bf16` (a temporary copy of the config: ttml-run has no
# option for the precision). Each run writes its metrics (JSON Lines); the validation losses are
# joined by step into one CSV and the largest |bf16 - fp32| over the evaluations is printed.
# This is a loss check, not a timing: run it on any machine (nice it on a shared one).
#
# Usage: bench/validate_precision.sh
# Environment:
#   BUILD=dir     ttml build tree (default: build, relative to the repository; not built here)
#   STEPS=N       training steps (default 2000, the config's max_steps)
#   SEED=N        seed of both runs (default: the config's, 5489)
#   DATA=FILE     training text (default: ../shared/data/tinyshakespeare.txt beside the
#                 repository, else what the config finds)
#   OUT=FILE.csv  the joined curves (default: bench/results/nanogpt_precision_val.csv);
#                 columns step,fp32_val_loss,bf16_val_loss,abs_diff
#   KEEP=dir      also keep both metrics files (fp32.jsonl, bf16.jsonl) in dir
#   JOBS=1|2      run the two trainings one after the other (1, default) or at once (2; each
#                 then gets TTML_CPU_THREADS=1 unless it is set)
#   TARGET=x      the bound in nats (default 0.03)
#   FP32_JSONL=F BF16_JSONL=F   do not train: join these two metrics files (e.g. of runs
#                 stopped early: the evaluations both reached are compared)
# Output: the runs' own output goes to logs in a temporary directory (their tail is shown on
# failure); one machine-readable line at the end:
#   validate case=nanogpt_precision steps=2000 evals=20 max_abs_diff=0.0123 at_step=300
#            fp32_final=1.69 bf16_final=1.70 target=0.03 pass=yes
# Exit status: 0 pass, 1 over the target, 2 a run failed or produced no evaluations.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) build=$BUILD ;; *) build=$root/$BUILD ;; esac
STEPS=${STEPS:-2000}
JOBS=${JOBS:-1}
TARGET=${TARGET:-0.03}
OUT=${OUT:-$here/results/nanogpt_precision_val.csv}
config=$root/configs/nanogpt_shakespeare.yaml
run=$build/bin/ttml-run
if [ ! -x "$run" ]; then
    echo "validate case=nanogpt_precision error=no-ttml-run ($run: build first with scripts/build.sh $BUILD)"
    exit 2
fi
if [ -z "${DATA:-}" ] && [ -f "$root/../shared/data/tinyshakespeare.txt" ]; then
    DATA=$(cd "$root/../shared/data" && pwd)/tinyshakespeare.txt
fi

tmp=$(mktemp -d /tmp/ttml-validate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${FP32_JSONL:-}" ] && [ -n "${BF16_JSONL:-}" ]; then
    cp "$FP32_JSONL" "$tmp/fp32.jsonl" && cp "$BF16_JSONL" "$tmp/bf16.jsonl" || exit 2
else
    # The bf16 copy lives beside the original so the config's relative data paths still resolve;
    # its name is unique and it is removed on exit.
    bf16_config=$(mktemp "$root/configs/.nanogpt_bf16.XXXXXX.yaml")
    trap 'rm -rf "$tmp" "$bf16_config"' EXIT
    awk '{print} /^training_config:/ {print "  precision: bf16"}' "$config" >"$bf16_config"

    args=(--quiet --max-steps "$STEPS")
    [ -n "${SEED:-}" ] && args+=(--seed "$SEED")
    [ -n "${DATA:-}" ] && args+=(--data "$DATA")

    # train NAME CONFIG: one run in its own directory (checkpoints land there), metrics NAME.jsonl
    train() {
        mkdir -p "$tmp/$1"
        (cd "$tmp/$1" && "$run" "$2" "${args[@]}" --metrics "$tmp/$1.jsonl" >"$tmp/$1.log" 2>&1)
        local rc=$?
        if [ $rc -ne 0 ]; then
            echo "validate case=nanogpt_precision precision=$1 error=ttml-run-exit-$rc" >&2
            tail -n 5 "$tmp/$1.log" >&2
        fi
        return $rc
    }

    if [ "$JOBS" = 2 ]; then
        export TTML_CPU_THREADS=${TTML_CPU_THREADS:-1}
        train fp32 "$config" & p1=$!
        train bf16 "$bf16_config" & p2=$!
        wait $p1; rc1=$?
        wait $p2; rc2=$?
    else
        train fp32 "$config"; rc1=$?
        train bf16 "$bf16_config"; rc2=$?
    fi
    if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
        echo "validate case=nanogpt_precision error=run-failed fp32_exit=$rc1 bf16_exit=$rc2"
        exit 2
    fi
    # The bf16 run must really have run in bf16: the cpu driver warns when oneDNN is missing.
    if grep -q "precision bf16 is not available" "$tmp/bf16.log"; then
        echo "validate case=nanogpt_precision error=bf16-unavailable ($(grep -m1 'precision bf16' "$tmp/bf16.log"))"
        exit 2
    fi
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$tmp/fp32.jsonl" "$tmp/bf16.jsonl" "$KEEP/"; fi
fi
mkdir -p "$(dirname "$OUT")"
/usr/bin/python3 - "$tmp/fp32.jsonl" "$tmp/bf16.jsonl" "$OUT" "$STEPS" "$TARGET" <<'EOF'
import json, sys
fp32_path, bf16_path, out, steps, target = sys.argv[1:6]

def val_curve(path):
    curve = {}
    for line in open(path):
        rec = json.loads(line)
        if "step" in rec and "val_loss" in rec:
            curve[rec["step"]] = rec["val_loss"]
    return curve

a, b = val_curve(fp32_path), val_curve(bf16_path)
common = sorted(set(a) & set(b))
if not common:
    print("validate case=nanogpt_precision error=no-common-evaluations fp32_evals=%d bf16_evals=%d"
          % (len(a), len(b)))
    sys.exit(2)
with open(out, "w") as f:
    f.write("step,fp32_val_loss,bf16_val_loss,abs_diff\n")
    for s in common:
        f.write("%d,%.6f,%.6f,%.6f\n" % (s, a[s], b[s], abs(b[s] - a[s])))
worst = max(common, key=lambda s: abs(b[s] - a[s]))
diff = abs(b[worst] - a[worst])
ok = diff <= float(target)
# steps = the last evaluation both runs reached (less than STEPS for runs stopped early)
print("validate case=nanogpt_precision steps=%d evals=%d max_abs_diff=%.4f at_step=%d "
      "fp32_final=%.4f bf16_final=%.4f target=%s pass=%s csv=%s"
      % (common[-1], len(common), diff, worst, a[common[-1]], b[common[-1]], target,
         "yes" if ok else "no", out))
sys.exit(0 if ok else 1)
EOF
