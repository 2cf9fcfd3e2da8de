#!/usr/bin/env bash
# bench/run.sh - ttml vs PyTorch on fixed training cases (issue 3, item 8).
#
# Usage: bench/run.sh [CASE...]        (default: sgemm nanogpt tiny gpt2_124m linreg; also ddp, ddp_scaling)
#        Python package cases (not in the default set): python (py_add + py_linreg,
#        ttml's Python package vs PyTorch from the same interpreter), nanogpt_py
#        (the nanogpt case driven from Python vs ttml-run, alternated ROUNDS times)
# Environment:
#   BUILD=dir        ttml build tree (default: build, relative to the repository);
#                    this script builds nothing of ttml: build it first
#   STEPS=N          training steps per GPT case (default 30; gpt2_124m: GPT2_STEPS, default 12)
#   WARMUP=N         steps dropped before taking the median (default 5; gpt2_124m: 3)
#   LINREG_STEPS=N   steps of the linreg case (default 5000)
#   IMPLS="ttml torch"   which sides to run
#   TTML_ARGS="..."  extra ttml-run arguments (e.g. --device profiler:cpu)
#   PP_MICRO=M       micro-batches of the nanogpt_pp2 case (default 4)
#   MPIRUN=cmd       mpirun of the nanogpt_pp2 case (default: mpirun --oversubscribe)
#   ROUNDS=N         run each GPT case N times, ttml and torch alternating, and
#                    print the median of the per-round ratios (default 1; this
#                    machine's speed drifts by +-15% over minutes, so a ratio
#                    from one pair of runs is only good to about that)
#
# Output: one machine-readable line per measurement, all starting "bench ":
#   bench case=sgemm_peak gflops=... threads=2 core=SkylakeX
#   bench case=nanogpt impl=ttml ms_per_step=... tokens_per_s=... peak_rss_mb=...
#   bench case=nanogpt impl=torch ms_per_step=... tokens_per_s=... peak_rss_mb=...
#   bench case=nanogpt ratio_ms=... ratio_rss=...        (ttml / torch; < 1 is better)
#   bench case=nanogpt rounds=N ratio_ms_median=... ratio_ms_min=... ratio_ms_max=... ratio_rss_median=...
#   bench case=gpt2_124m impl=ttml ... gflops=... peak_fraction=...
#   bench case=linreg impl=ttml us_per_step=...
#   bench case=py_add impl=ttml|torch us_per_call=...   bench case=py_add ratio_us=...
#   bench case=py_linreg impl=ttml|torch us_per_step=... bench case=py_linreg ratio_us=...
#   bench case=nanogpt_py rounds=N python_ms=... ttml_run_ms=... ratio_median=... (python / ttml-run)
#   bench case=nanogpt_bf16 impl=ttml ...   (precision: bf16 against torch.autocast bf16)
#   bench case=nanogpt_contended impl=ttml|torch ...  (nanogpt with one other process busy on
#                    cpu 0; not in the default set: bench/run.sh nanogpt nanogpt_contended)
#   bench case=matmul_kernel shape=... kernel_gflops=... blas_gflops=... ratio=...
#   bench case=adamw_kernel n=... adamw_gbs=... adamw_bf16_gbs=... copy_gbs=... memcpy1_gbs=...
#         ratio=... ratio_bf16=...   (adamw_step / the driver's copy of the same bytes; not
#                                     in the default set)
#   bench case=sdpa_kernel shape=... layers=12 fp32_ms=... bf16_ms=... fp32_cpu_ms=... bf16_cpu_ms=...
#         ratio=...   (sdpa_fwd + sdpa_bwd per gpt2_124m step, bf16 / fp32; not in the default set)
#   bench case=dnnl_prepack weight=... layout=NT|NN plain_ms=... packed_ms=... reorder_ms=...
#   bench case=dnnl_prepack plain_ms_per_step=... saving_ms_per_step=...   (CPU ms; oneDNN
#                    pre-packed weights on gpt2_124m's shapes; not in the default set)
#   DDP cases (not in the default set; need mpirun):
#   ddp: the nanogpt case at 1 rank x 2 threads (no DDP) against 2 ranks x 1 thread
#   (mpirun, enable_ddp; global batch 4 = 2 x 2) with and without overlap
#   (device_config.ddp_overlap: false); medians after WARMUP steps:
#   bench case=ddp impl=1rank_2threads ms_per_step=... tokens_per_s=... cpu_ms=...
#   bench case=ddp impl=2ranks_1thread[_no_overlap] ms_per_step=... tokens_per_s=... comm_ms=...
#         comm_wait_ms=... backward_ms=... cpu_ms=r0,r1 buckets=N bucket_mb=a,b,...
#         (cpu_ms: median CPU time of the process per step, every thread; per rank)
#   bench case=ddp ratio_tokens=... (2 ranks / 1 rank; goal >= 0.9) hidden_share=... (1 - wait with
#         overlap / wait without: the share of the all-reduce time overlap hides)
#   ddp_scaling: gpt2_124m with enable_ddp at one rank (GPT2_STEPS), then bench/ddp_scaling.py:
#   bench case=ddp_scaling model=gpt2_124m gbps=10|100 hosts=N exposed_ms=... efficiency=... speedup=...
#   bench case=nanogpt_tp2 impl=ttml tp=1|2 ms_per_step=... [tp_comm_ms=... tp_comm_bytes=... tp_comm_calls=...]
#   bench case=nanogpt_tp2 ratio_ms=...   (TP 2 / TP 1 step time; not in the default set: needs
#                                           mpirun; MPIRUN=mpirun, as root with OMPI_ALLOW_RUN_AS_ROOT*)
#   bench case=nanogpt_pp2 impl=pp1 micro_batches=M ms_per_step=...   (one process, the reference)
#   bench case=nanogpt_pp2 impl=pp2 schedule=1f1b|gpipe micro_batches=M ms_per_step=... speedup=...
#         comm_bytes_per_step=... comm_ms_per_step=... wait_ms_per_step=... bubble=... bubble_ideal=...
#         (not in the default set; mpirun -np 2; stage 0's figures, medians after WARMUP)
# A side that fails prints "bench case=X impl=Y error=..." and the script goes on.
# See bench/README.md for the method.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) build=$BUILD ;; *) build=$root/$BUILD ;; esac
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-5}
GPT2_STEPS=${GPT2_STEPS:-12}
GPT2_WARMUP=${GPT2_WARMUP:-3}
LINREG_STEPS=${LINREG_STEPS:-5000}
IMPLS=${IMPLS:-"ttml torch"}
TTML_ARGS=${TTML_ARGS:-}
ROUNDS=${ROUNDS:-1}
ratios_ms=()
ratios_rss=()
PY=/usr/bin/python3
TIME=/usr/bin/time
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=(sgemm matmul_kernel nanogpt nanogpt_bf16 tiny gpt2_124m gpt2_124m_bf16 linreg)

tmp=$(mktemp -d /tmp/ttml-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# PyTorch's best environment here (issue 3): passive OpenMP waits, OpenBLAS's
# AVX-512 kernels (only where the CPU has them).
if grep -qw avx512f /proc/cpuinfo; then coretype=SkylakeX; else coretype=; fi
torch_env=(env OMP_WAIT_POLICY=PASSIVE)
[ -n "$coretype" ] && torch_env+=(OPENBLAS_CORETYPE=$coretype)

peak_gflops=

have_ttml() {
    if [ ! -x "$build/bin/ttml-run" ]; then
        echo "bench case=$1 impl=ttml error=no-ttml-run ($build/bin/ttml-run: build ttml first or set BUILD=dir)"
        return 1
    fi
}

# "Maximum resident set size (kbytes): N" of /usr/bin/time -v -> MiB
rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"; }

# median of step_ms over the metrics lines with step > warmup
median_step_ms() {
    $PY - "$1" "$2" <<'EOF'
import json, statistics, sys
path, warmup = sys.argv[1], int(sys.argv[2])
ms = []
for line in open(path):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if "step" in o and "step_ms" in o and o["step"] > warmup:
        ms.append(float(o["step_ms"]))
print(f"{statistics.median(ms):.4f} {len(ms)}" if ms else "nan 0")
EOF
}

# case -> "blocks heads width context vocab batch" (keep in sync with bench/configs and torch_gpt.py)
shape_of() {
    local c=${1%_bf16}
    case ${c%_contended} in
    nanogpt) echo "6 6 384 128 96 4" ;;
    tiny) echo "2 4 128 64 96 8" ;;
    gpt2_124m) echo "12 12 768 256 50304 2" ;;
    esac
}

# Training FLOPs per step: 6 * N * T (N = parameters used in matmuls: all but
# the position table; the tied head counts once) + attention 12 * L * S * E * T
# (QK^T and AV, forward and backward, the full S x S square), T = B * S tokens.
flops_per_step() {
    read -r L H E S V B <<<"$(shape_of "$1")"
    $PY -c "
L,E,S,V,B=$L,$E,$S,$V,$B
N = V*E + L*(12*E*E + 13*E) + 2*E
T = B*S
print(6*N*T + 12*L*S*E*T)"
}

result_line() { # case impl ms tokens rss [extra]
    local case=$1 impl=$2 ms=$3 rss=$4 extra=${5:-}
    read -r L H E S V B <<<"$(shape_of "$case")"
    local tps gf=""
    tps=$($PY -c "print(f'{$B*$S/($ms/1e3):.0f}')")
    if [ "${case%_bf16}" = gpt2_124m ]; then
        local f
        f=$(flops_per_step "$case")
        gf=$($PY -c "g=$f/($ms/1e3)/1e9; p='${peak_gflops}'; print(f' gflops={g:.1f}' + (f' peak_fraction={g/float(p):.2f}' if p else ''))")
    fi
    echo "bench case=$case impl=$impl ms_per_step=$ms tokens_per_s=$tps peak_rss_mb=$rss$gf$extra"
}

run_sgemm() {
    if ! cc -O2 -o "$tmp/sgemm_peak" "$here/sgemm_peak.c" -lopenblas 2>"$tmp/cc.err"; then
        echo "bench case=sgemm_peak error=build-failed ($(head -1 "$tmp/cc.err"))"
        return
    fi
    local out
    out=$(env ${coretype:+OPENBLAS_CORETYPE=$coretype} OPENBLAS_NUM_THREADS=2 "$tmp/sgemm_peak" 1.5)
    echo "$out" | grep '^bench '
    peak_gflops=$(echo "$out" | sed -n 's/^bench .* gflops=\([0-9.]*\).*/\1/p')
}

# The matmul kernel (through ttml_kernel_launch, as the ops call it) against
# the same cblas_sgemm calls in a tight loop, on the training shapes (item 1
# of issue 14), plus the kernel with precision bf16.
run_matmul_kernel() {
    if [ ! -e "$build/lib/libttml.so" ]; then
        echo "bench case=matmul_kernel error=no-libttml ($build/lib/libttml.so)"
        return
    fi
    # shellcheck disable=SC2046
    if ! cc -O2 -o "$tmp/matmul_kernel" "$here/matmul_kernel.c" -I"$root/include" -L"$build/lib" \
        -Wl,-rpath,"$build/lib" -lttml -lopenblas $(pkg-config --cflags --libs glib-2.0) 2>"$tmp/mk.err"; then
        echo "bench case=matmul_kernel error=build-failed ($(head -1 "$tmp/mk.err"))"
        return
    fi
    env ${coretype:+OPENBLAS_CORETYPE=$coretype} OPENBLAS_THREAD_TIMEOUT=14 "$tmp/matmul_kernel" | grep '^bench '
}

# Build bench/NAME.c against libttml (extra cc arguments after NAME) and print
# its bench lines.
run_ttml_c_bench() {
    local name=$1
    shift
    if [ ! -e "$build/lib/libttml.so" ]; then
        echo "bench case=$name error=no-libttml ($build/lib/libttml.so)"
        return
    fi
    # shellcheck disable=SC2046
    if ! cc -O2 -o "$tmp/$name" "$here/$name.c" -I"$root/include" -L"$build/lib" \
        -Wl,-rpath,"$build/lib" -lttml "$@" $(pkg-config --cflags --libs glib-2.0) 2>"$tmp/$name.err"; then
        echo "bench case=$name error=build-failed ($(head -1 "$tmp/$name.err"))"
        return
    fi
    env ${coretype:+OPENBLAS_CORETYPE=$coretype} OPENBLAS_THREAD_TIMEOUT=14 "$tmp/$name" | grep '^bench '
}

# The cpu driver's adamw_step kernel against copies of the same bytes (the
# driver's copy kernel on both threads, memcpy on one), with and without the
# parameter's bf16 copy written in the same pass (precision bf16).
run_adamw_kernel() { run_ttml_c_bench adamw_kernel; }

# The cpu driver's sdpa_fwd + sdpa_bwd (one gpt2_124m layer, times 12) in fp32
# and with precision bf16 (attention's products through oneDNN), interleaved.
run_sdpa_kernel() { run_ttml_c_bench sdpa_kernel; }

# Pre-packed bf16 weights (oneDNN's blocked layout, reordered once per step)
# against the plain weights the cpu driver passes, on gpt2_124m's products.
run_dnnl_prepack() {
    if ! cc -O2 -o "$tmp/dnnl_prepack" "$here/dnnl_prepack.c" -ldnnl 2>"$tmp/dp.err"; then
        echo "bench case=dnnl_prepack error=build-failed ($(head -1 "$tmp/dp.err"); needs libdnnl-dev)"
        return
    fi
    env OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$(nproc)" "$tmp/dnnl_prepack" | grep '^bench '
}

run_gpt() {
    local case=$1 steps=$STEPS warmup=$WARMUP base=${1%_bf16} config autocast=()
    base=${base%_contended}
    if [ "$base" = gpt2_124m ]; then steps=$GPT2_STEPS; warmup=$GPT2_WARMUP; fi
    config=$here/configs/$base.yaml
    if [ "$case" != "${case%_bf16}" ]; then
        # the same config with training_config.precision: bf16
        config=$tmp/$case.yaml
        awk '{print} /^training_config:/ {print "  precision: bf16"}' "$here/configs/$base.yaml" >"$config"
        autocast=(--autocast)
    fi
    local ttml_ms="" ttml_rss="" torch_ms="" torch_rss=""
    if [[ " $IMPLS " == *" ttml "* ]] && have_ttml "$case"; then
        local m=$tmp/$case.jsonl
        # shellcheck disable=SC2086
        if $TIME -v "$build/bin/ttml-run" "$config" --max-steps "$steps" --metrics "$m" -q \
            $TTML_ARGS >"$tmp/$case.out" 2>"$tmp/$case.time"; then
            read -r ttml_ms n <<<"$(median_step_ms "$m" "$warmup")"
            ttml_rss=$(rss_mb "$tmp/$case.time")
            if [ "$n" = 0 ]; then
                echo "bench case=$case impl=ttml error=no-step_ms-in-metrics"
                ttml_ms=""
            else
                result_line "$case" ttml "$ttml_ms" "$ttml_rss" " steps=$steps warmup=$warmup"
            fi
        else
            echo "bench case=$case impl=ttml error=ttml-run-failed ($(grep -v '^\s' "$tmp/$case.time" | grep -v 'Command exited' | tail -1))"
        fi
    fi
    if [[ " $IMPLS " == *" torch "* ]]; then
        local line
        line=$("${torch_env[@]}" $TIME -v $PY "$here/torch_gpt.py" --case "$base" "${autocast[@]}" --steps "$steps" --warmup "$warmup" \
            2>"$tmp/$case.torch.time" | grep '^bench ')
        if [ -n "$line" ]; then
            torch_ms=$(echo "$line" | sed -n 's/.* ms_per_step=\([0-9.]*\).*/\1/p')
            torch_rss=$(rss_mb "$tmp/$case.torch.time")
            result_line "$case" torch "$torch_ms" "$torch_rss" " steps=$steps warmup=$warmup"
        else
            echo "bench case=$case impl=torch error=torch-failed ($(grep -iE 'error|Traceback' "$tmp/$case.torch.time" | tail -1))"
        fi
    fi
    if [ -n "$ttml_ms" ] && [ -n "$torch_ms" ]; then
        $PY -c "print(f'bench case=$case ratio_ms={$ttml_ms/$torch_ms:.2f} ratio_rss={$ttml_rss/$torch_rss:.2f}')"
        ratios_ms+=("$($PY -c "print($ttml_ms/$torch_ms)")")
        ratios_rss+=("$($PY -c "print($ttml_rss/$torch_rss)")")
    fi
}

# run_gpt ROUNDS times; with more than one round, a summary of the ratios
run_gpt_rounds() {
    ratios_ms=()
    ratios_rss=()
    for ((r = 0; r < ROUNDS; r++)); do run_gpt "$1"; done
    if [ "$ROUNDS" -gt 1 ] && [ ${#ratios_ms[@]} -gt 0 ]; then
        $PY - "$1" "${#ratios_ms[@]}" "${ratios_ms[*]}" "${ratios_rss[*]}" <<'EOF'
import statistics, sys
case, n = sys.argv[1], sys.argv[2]
ms, rss = [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
print(f"bench case={case} rounds={n} ratio_ms_median={statistics.median(ms):.2f} ratio_ms_min={min(ms):.2f} "
      f"ratio_ms_max={max(ms):.2f} ratio_rss_median={statistics.median(rss):.2f}")
EOF
    fi
}

# nanogpt_contended: the nanogpt case (ttml and PyTorch alternating, ROUNDS
# times) while one other process keeps a core busy (a shell loop pinned to
# cpu 0 when taskset exists), so a thread set that oversubscribes the cores
# shows as a collapse rather than the one-core loss (issue 14, item 3).
run_contended() {
    local pin=()
    command -v taskset >/dev/null && pin=(taskset -c 0)
    "${pin[@]}" sh -c 'while :; do :; done' &
    local busy=$!
    echo "bench case=$1 contention=busy_loop pinned=${pin[*]:+cpu0} pid=$busy"
    run_gpt_rounds "$1"
    kill "$busy" 2>/dev/null
    wait "$busy" 2>/dev/null
}

run_linreg() {
    local ttml_us="" torch_us=""
    if [[ " $IMPLS " == *" ttml "* ]] && have_ttml linreg; then
        local m=$tmp/linreg.jsonl
        if "$build/bin/ttml-run" "$here/configs/linreg.yaml" --max-steps "$LINREG_STEPS" --metrics "$m" -q \
            >"$tmp/linreg.out" 2>&1; then
            read -r ms n <<<"$(median_step_ms "$m" 100)"
            ttml_us=$($PY -c "print(f'{$ms*1e3:.1f}')")
            echo "bench case=linreg impl=ttml us_per_step=$ttml_us steps=$LINREG_STEPS"
        else
            echo "bench case=linreg impl=ttml error=ttml-run-failed ($(tail -1 "$tmp/linreg.out"))"
        fi
    fi
    if [[ " $IMPLS " == *" torch "* ]]; then
        local line
        line=$("${torch_env[@]}" $PY "$here/torch_gpt.py" --case linreg --steps "$LINREG_STEPS" --warmup 100 |
            grep '^bench ')
        if [ -n "$line" ]; then
            torch_us=$(echo "$line" | sed -n 's/.* us_per_step=\([0-9.]*\).*/\1/p')
            echo "bench case=linreg impl=torch us_per_step=$torch_us steps=$LINREG_STEPS"
        else
            echo "bench case=linreg impl=torch error=torch-failed"
        fi
    fi
    if [ -n "$ttml_us" ] && [ -n "$torch_us" ]; then
        $PY -c "print(f'bench case=linreg ratio_us={$ttml_us/$torch_us:.3f}')"
    fi
}

# The ttml Python package (python/): PYTHONPATH is the build tree's package dir.
pyenv=(env PYTHONPATH="$build/lib/python3/dist-packages")
py_value() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

run_python() {
    if ! ls "$build"/lib/python3/dist-packages/ttml/_ttml*.so >/dev/null 2>&1; then
        echo "bench case=python impl=ttml error=no-python-package (build with python3-dev python3-numpy)"
        return
    fi
    local c impl line v
    for c in py_add py_linreg; do
        local t="" p=""
        for impl in $IMPLS; do
            line=$("${pyenv[@]}" "${torch_env[@]}" $PY "$here/python_bench.py" --case $c --impl $impl 2>&1 | grep '^bench ')
            echo "${line:-bench case=$c impl=$impl error=failed}"
            v=$(echo "$line" | py_value "us_per_[a-z]*")
            [ "$impl" = ttml ] && t=$v
            [ "$impl" = torch ] && p=$v
        done
        [ -n "$t" ] && [ -n "$p" ] && $PY -c "print(f'bench case=$c ratio_us={$t/$p:.3f}')"
    done
}

run_nanogpt_py() {
    have_ttml nanogpt_py || return
    local i ratios=() pys=() runs=()
    for ((i = 0; i < ROUNDS; i++)); do
        local m=$tmp/nanogpt_py.jsonl
        "$build/bin/ttml-run" "$here/configs/nanogpt.yaml" --max-steps "$STEPS" --metrics "$m" -q >/dev/null 2>&1 ||
            { echo "bench case=nanogpt_py error=ttml-run-failed"; return; }
        read -r r n <<<"$(median_step_ms "$m" "$WARMUP")"
        local line
        line=$("${pyenv[@]}" $PY "$here/python_bench.py" --case py_nanogpt --steps "$STEPS" --warmup "$WARMUP" | grep '^bench ')
        echo "$line"
        local p
        p=$(echo "$line" | py_value ms_per_step)
        [ -z "$p" ] && { echo "bench case=nanogpt_py error=python-failed"; return; }
        echo "bench case=nanogpt impl=ttml-run ms_per_step=$r round=$((i + 1))"
        runs+=("$r"); pys+=("$p"); ratios+=("$($PY -c "print($p/$r)")")
    done
    $PY - nanogpt_py "${#ratios[@]}" "${ratios[*]}" "${pys[*]}" "${runs[*]}" <<'PYEOF'
import statistics, sys
case, n = sys.argv[1], sys.argv[2]
rs, ps, ts = ([float(v) for v in a.split()] for a in sys.argv[3:6])
print(f"bench case={case} rounds={n} python_ms={statistics.median(ps):.1f} ttml_run_ms={statistics.median(ts):.1f} "
      f"ratio_median={statistics.median(rs):.3f} ratio_min={min(rs):.3f} ratio_max={max(rs):.3f}")
PYEOF
}

# median of KEY over the metrics lines with step > warmup ("nan" when none)
median_key() {
    $PY - "$1" "$2" "$3" <<'EOF'
import json, statistics, sys
path, key, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3])
v = []
for line in open(path):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if "step" in o and key in o and o["step"] > warmup:
        v.append(float(o[key]))
print(f"{statistics.median(v):.3f}" if v else "nan")
EOF
}

# "buckets=N bucket_mb=a,b,..." from the last DDP step line of a metrics file
bucket_summary() {
    $PY - "$1" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"bucket_bytes"' in l]
b = rows[-1]["bucket_bytes"] if rows else []
print("buckets=%d bucket_mb=%s" % (len(b), ",".join("%.2f" % (x / 1e6) for x in b)))
EOF
}

mpi_env=(env)
[ "$(id -u)" = 0 ] && mpi_env+=(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)

# bench/configs/CASE.yaml with device_config.enable_ddp and ddp_overlap OVERLAP -> its path
ddp_config() { # OVERLAP CASE
    awk -v ov="$1" '{print} /^device_config:/ {print "  enable_ddp: true"; print "  ddp_overlap: " ov}' \
        "$here/configs/$2.yaml" >"$tmp/ddp_$2_$1.yaml"
    echo "$tmp/ddp_$2_$1.yaml"
}

run_ddp() {
    have_ttml ddp || return
    command -v mpirun >/dev/null || { echo "bench case=ddp error=no-mpirun (install openmpi-bin)"; return; }
    read -r L H E S V B <<<"$(shape_of nanogpt)"
    local m=$tmp/ddp_1.jsonl one
    TTML_CPU_THREADS=2 "$build/bin/ttml-run" "$here/configs/nanogpt.yaml" --max-steps "$STEPS" --metrics "$m" -q \
        >"$tmp/ddp_1.out" 2>&1 || { echo "bench case=ddp impl=1rank_2threads error=ttml-run-failed"; return; }
    one=$(median_key "$m" step_ms "$WARMUP")
    echo "bench case=ddp impl=1rank_2threads ms_per_step=$one tokens_per_s=$($PY -c "print(f'{$B*$S/$one*1e3:.0f}')")" \
        "cpu_ms=$(median_key "$m" cpu_ms "$WARMUP")"
    local ov ms wait name wait_on="" wait_off="" two=""
    for ov in true false; do
        m=$tmp/ddp_$ov.jsonl
        if ! "${mpi_env[@]}" mpirun --oversubscribe -np 2 -x TTML_CPU_THREADS=1 "$build/bin/ttml-run" \
            "$(ddp_config $ov nanogpt)" --max-steps "$STEPS" --metrics "$m" -q >"$tmp/ddp_$ov.out" 2>&1; then
            echo "bench case=ddp impl=2ranks_1thread overlap=$ov error=mpirun-failed ($(tail -1 "$tmp/ddp_$ov.out"))"
            return
        fi
        name=2ranks_1thread
        [ $ov = false ] && name=2ranks_1thread_no_overlap
        ms=$(median_key "$m" step_ms "$WARMUP")
        wait=$(median_key "$m" comm_wait_ms "$WARMUP")
        if [ $ov = true ]; then wait_on=$wait; two=$ms; else wait_off=$wait; fi
        echo "bench case=ddp impl=$name ms_per_step=$ms tokens_per_s=$($PY -c "print(f'{$B*$S/$ms*1e3:.0f}')")" \
            "comm_ms=$(median_key "$m" comm_ms "$WARMUP") comm_wait_ms=$wait" \
            "backward_ms=$(median_key "$m" backward_ms "$WARMUP")" \
            "cpu_ms=$(median_key "$m" cpu_ms "$WARMUP"),$(median_key "${m%.jsonl}.rank1.jsonl" cpu_ms "$WARMUP")" \
            "$(bucket_summary "$m")"
    done
    $PY -c "
on, off = $wait_on, $wait_off
print(f'bench case=ddp ratio_tokens={$one/$two:.3f} hidden_share={(1 - on / off) if off > 0 else float(\"nan\"):.3f}')"
}

run_ddp_scaling() {
    have_ttml ddp_scaling || return
    local m=$tmp/ddp_scaling.jsonl
    if ! "$build/bin/ttml-run" "$(ddp_config true gpt2_124m)" --max-steps "$GPT2_STEPS" --metrics "$m" -q \
        >"$tmp/ddp_scaling.out" 2>&1; then
        echo "bench case=ddp_scaling error=ttml-run-failed ($(tail -1 "$tmp/ddp_scaling.out"))"
        return
    fi
    $PY "$here/ddp_scaling.py" "$m" --warmup "$GPT2_WARMUP" --label gpt2_124m
}

# the nanogpt case at TP 1 (one process) and TP 2 (mpirun -np 2, enable_tp,
# mesh_shape [1, 2]): median step time and, for TP 2, the per-step volume,
# time and count of the tensor-parallel collectives (metrics tp_comm_*)
run_nanogpt_tp2() {
    have_ttml nanogpt_tp2 || return
    local cfg=$tmp/nanogpt_tp2.yaml mpirun=${MPIRUN:-mpirun}
    awk '{print} /^device_config:/ {print "  enable_tp: true"; print "  mesh_shape: [1, 2]"}' \
        "$here/configs/nanogpt.yaml" >"$cfg"
    local tp1="" tp2=""
    # shellcheck disable=SC2086
    if "$build/bin/ttml-run" "$here/configs/nanogpt.yaml" --max-steps "$STEPS" --metrics "$tmp/tp1.jsonl" -q \
        $TTML_ARGS >/dev/null 2>"$tmp/tp1.err"; then
        read -r tp1 _ <<<"$(median_step_ms "$tmp/tp1.jsonl" "$WARMUP")"
        echo "bench case=nanogpt_tp2 impl=ttml tp=1 ms_per_step=$tp1 steps=$STEPS warmup=$WARMUP"
    else
        echo "bench case=nanogpt_tp2 impl=ttml tp=1 error=ttml-run-failed ($(tail -1 "$tmp/tp1.err"))"
    fi
    # shellcheck disable=SC2086
    if "$mpirun" --oversubscribe -np 2 "$build/bin/ttml-run" "$cfg" --max-steps "$STEPS" --metrics "$tmp/tp2.jsonl" \
        -q $TTML_ARGS >/dev/null 2>"$tmp/tp2.err"; then
        tp2=$($PY - "$tmp/tp2.jsonl" "$WARMUP" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rows = [r for r in rows if "step_ms" in r and r["step"] > int(sys.argv[2])]
med = lambda k: statistics.median(float(r[k]) for r in rows)
print(f"{med('step_ms'):.4f} tp_comm_ms={med('tp_comm_ms'):.3f} tp_comm_bytes={int(med('tp_comm_bytes'))} "
      f"tp_comm_calls={int(med('tp_comm_calls'))}")
PYEOF
)
        echo "bench case=nanogpt_tp2 impl=ttml tp=2 ms_per_step=$tp2 steps=$STEPS warmup=$WARMUP"
    else
        echo "bench case=nanogpt_tp2 impl=ttml tp=2 error=mpirun-failed ($(tail -1 "$tmp/tp2.err"))"
    fi
    if [ -n "$tp1" ] && [ -n "$tp2" ]; then
        $PY -c "print(f'bench case=nanogpt_tp2 ratio_ms={${tp2%% *}/$tp1:.2f}')"
    fi
}

# Pipeline parallelism (issue 13, item 7): the nanogpt case untied (a
# pipeline cannot tie the head on stage 1 to the embedding on stage 0) with
# PP_MICRO micro-batches, on one process and as 2 stages of 3 blocks under
# mpirun, both schedules. Per step of stage 0: bytes sent, time in
# transfers, time blocked on a neighbour and its share of the step (the
# measured bubble) beside the ideal (P-1)/(M+P-1).
run_nanogpt_pp2() {
    have_ttml nanogpt_pp2 || return
    local M=${PP_MICRO:-4} mpirun=${MPIRUN:-mpirun --oversubscribe} base=$tmp/nanogpt_pp.yaml
    sed -e "s/weight_tying: enabled/weight_tying: disabled/" \
        -e "s/gradient_accumulation_steps: 1/gradient_accumulation_steps: $M/" \
        -e "s|- ../../../shared|- $here/../../shared|" "$here/configs/nanogpt.yaml" >"$base"
    local ref_ms n
    if "$build/bin/ttml-run" "$base" --max-steps "$STEPS" --metrics "$tmp/pp1.jsonl" -q >/dev/null 2>"$tmp/pp1.err"; then
        read -r ref_ms n <<<"$(median_step_ms "$tmp/pp1.jsonl" "$WARMUP")"
        echo "bench case=nanogpt_pp2 impl=pp1 micro_batches=$M ms_per_step=$ref_ms steps=$STEPS warmup=$WARMUP"
    else
        echo "bench case=nanogpt_pp2 impl=pp1 error=ttml-run-failed ($(tail -1 "$tmp/pp1.err"))"
        ref_ms=""
    fi
    local sched
    for sched in 1f1b gpipe; do
        local cfg=$tmp/nanogpt_pp2_$sched.yaml m=$tmp/pp2_$sched.jsonl
        cat "$base" - >"$cfg" <<EOF2
multihost_config:
  enabled: true
  socket_type: mpi
  pipeline_parallel_config:
    num_blocks: 6
    blocks_per_rank: {0: 3, 1: 3}
    schedule: $sched
EOF2
        # shellcheck disable=SC2086
        if ! $mpirun -np 2 "$build/bin/ttml-run" "$cfg" --max-steps "$STEPS" --metrics "$m" -q >/dev/null 2>"$tmp/pp2.err"; then
            echo "bench case=nanogpt_pp2 impl=pp2 schedule=$sched error=mpirun-failed ($(tail -1 "$tmp/pp2.err"))"
            continue
        fi
        $PY - "$m" "$WARMUP" "$sched" "$M" "${ref_ms:-nan}" <<'EOF2'
import json, statistics, sys
path, warmup, sched, M, ref = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
rows = [o for o in map(json.loads, open(path)) if "step" in o and "pp_bubble" in o and o["step"] > warmup]
if not rows:
    print(f"bench case=nanogpt_pp2 impl=pp2 schedule={sched} error=no-pp-metrics")
    sys.exit(0)
med = lambda k: statistics.median(float(o[k]) for o in rows)
ms = med("step_ms")
print(f"bench case=nanogpt_pp2 impl=pp2 schedule={sched} micro_batches={M} ms_per_step={ms:.4f} "
      f"speedup={ref / ms:.2f} comm_bytes_per_step={int(med('pp_comm_bytes'))} "
      f"comm_ms_per_step={med('pp_comm_ms'):.3f} wait_ms_per_step={med('pp_wait_ms'):.3f} "
      f"bubble={med('pp_bubble'):.3f} bubble_ideal={rows[-1]['pp_bubble_ideal']:.3f} "
      f"max_in_flight={max(o['pp_max_in_flight'] for o in rows)} steps={len(rows)}")
EOF2
    done
}

for c in "${cases[@]}"; do
    case $c in
    sgemm | sgemm_peak) run_sgemm ;;
    matmul_kernel) run_matmul_kernel ;;
    adamw_kernel) run_adamw_kernel ;;
    sdpa_kernel) run_sdpa_kernel ;;
    dnnl_prepack) run_dnnl_prepack ;;
    nanogpt | tiny | nanogpt_bf16 | tiny_bf16) run_gpt_rounds "$c" ;;
    nanogpt_contended) run_contended "$c" ;;
    gpt2_124m | gpt2 | gpt2_124m_bf16)
        [ -z "$peak_gflops" ] && [[ " ${cases[*]} " != *" sgemm "* ]] && run_sgemm
        [ "$c" = gpt2 ] && c=gpt2_124m
        run_gpt_rounds "$c"
        ;;
    linreg) run_linreg ;;
    python) run_python ;;
    nanogpt_py) run_nanogpt_py ;;
    ddp) run_ddp ;;
    ddp_scaling) run_ddp_scaling ;;
    nanogpt_tp2) run_nanogpt_tp2 ;;
    nanogpt_pp2) run_nanogpt_pp2 ;;
    *) echo "bench case=$c error=unknown-case (known: sgemm matmul_kernel adamw_kernel sdpa_kernel dnnl_prepack nanogpt nanogpt_bf16 nanogpt_contended tiny gpt2_124m gpt2_124m_bf16 linreg python nanogpt_py ddp ddp_scaling nanogpt_tp2 nanogpt_pp2)" ;;
    esac
done
