#!/usr/bin/env python3
"""bench/ddp_scaling.py - DDP scaling estimate across hosts from a measured run.

Reads the --metrics file of a ttml-run DDP run (device_config.enable_ddp; one
rank is enough: bench/run.sh ddp_scaling trains gpt2_124m so) and takes, over
the logged steps after WARMUP, the median step_ms and backward_ms and, from
the last step, the measured buckets: bucket_bytes (bucket 0 = the last
parameters, all-reduced first) and bucket_ready_ms (when each bucket's last
gradient was final, ms after the step's first final gradient).

Model, for N hosts of one rank each and a link of G Gb/s per host (weak
scaling: every host trains the measured per-rank batch):
  - a bucket's ring all-reduce takes 2 (N-1)/N * bytes / (G/8 GB/s)
    + 2 (N-1) * ALPHA (per-message latency, default 30 us);
  - with overlap the all-reduces run one at a time on the link, bucket k
    starting at max(ready_k, end of bucket k-1); what is exposed is the end of
    the last one minus the last bucket's ready time (backward is over then);
  - without overlap (device_config.ddp_overlap: false) every all-reduce is
    exposed: the sum;
  - step_N = step_1 + exposed; efficiency = step_1 / step_N; speed-up =
    N * efficiency (tokens/s against one host).
The compute of the measured run is on this (loaded, 2-vCPU) machine: a
faster host makes backward shorter and the exposed share larger; pass
--step-ms / --backward-ms to rescale to another host's measured figures.

Usage: ddp_scaling.py METRICS.jsonl [--warmup N] [--gbps 10,100] [--hosts 2,4,8,16,64]
                      [--alpha-us 30] [--step-ms MS] [--backward-ms MS] [--label NAME]
Output: one "bench case=ddp_scaling ..." line per (bandwidth, hosts).
"""
import argparse
import json
import statistics
import sys


def load(path, warmup):
    rows = []
    for line in open(path):
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if "step" in o and "bucket_bytes" in o:
            rows.append(o)
    if not rows:
        sys.exit("%s: no DDP step lines (bucket_bytes): train with device_config.enable_ddp: true and "
                 "log_interval: 1" % path)
    kept = [r for r in rows if r["step"] > warmup] or rows
    step_ms = statistics.median(r["step_ms"] for r in kept)
    backward_ms = statistics.median(r["backward_ms"] for r in kept)
    last = kept[-1]
    return step_ms, backward_ms, last["bucket_bytes"], last["bucket_ready_ms"]


def exposed_ms(buckets, ready, n, gbps, alpha_us, overlap):
    bytes_per_ms = gbps / 8.0 * 1e9 / 1e3
    cost = [2.0 * (n - 1) / n * b / bytes_per_ms + 2 * (n - 1) * alpha_us / 1e3 for b in buckets]
    if not overlap:
        return sum(cost)
    free = 0.0
    for c, r in zip(cost, ready):
        free = max(free, r) + c
    return max(0.0, free - max(ready))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("metrics")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--gbps", default="10,100")
    ap.add_argument("--hosts", default="2,4,8,16,64")
    ap.add_argument("--alpha-us", type=float, default=30.0)
    ap.add_argument("--step-ms", type=float)
    ap.add_argument("--backward-ms", type=float)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    step_ms, backward_ms, buckets, ready = load(a.metrics, a.warmup)
    if a.backward_ms:  # rescale the ready times to another host's backward
        ready = [r * a.backward_ms / backward_ms for r in ready]
        backward_ms = a.backward_ms
    if a.step_ms:
        step_ms = a.step_ms
    label = " model=%s" % a.label if a.label else ""
    total = sum(buckets)
    print("bench case=ddp_scaling%s step_ms=%.1f backward_ms=%.1f grad_mb=%.1f buckets=%d bucket_mb=%s"
          % (label, step_ms, backward_ms, total / 1e6, len(buckets),
             ",".join("%.1f" % (b / 1e6) for b in buckets)))
    for g in (float(x) for x in a.gbps.split(",")):
        for n in (int(x) for x in a.hosts.split(",")):
            e = exposed_ms(buckets, ready, n, g, a.alpha_us, True)
            s = exposed_ms(buckets, ready, n, g, a.alpha_us, False)
            print("bench case=ddp_scaling%s gbps=%g hosts=%d comm_ms=%.1f exposed_ms=%.1f efficiency=%.3f "
                  "speedup=%.2f efficiency_no_overlap=%.3f" % (label, g, n, s, e, step_ms / (step_ms + e),
                                                              n * step_ms / (step_ms + e), step_ms / (step_ms + s)))


main()
