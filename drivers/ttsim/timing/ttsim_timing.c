/* drivers/ttsim/timing/ttsim_timing.c - the per-launch timing model (version 2,
 * calibrated; the figures are in ttsim_calib.c, the derivation and the
 * citations in docs/ttsim.md "Timing model").
 *
 * cycles = L + max(compute, DRAM, per-core traffic) on the busiest core:
 *   L: a fixed device cost per launch (fitted to the published matmul rows;
 *     other launches pay the architecture's smallest matmul L), which holds
 *     one DRAM round trip (NoC hop latencies): a launch touching no DRAM
 *     pays L less that latency;
 *   compute (matmul): the busiest core's tile products tp = ceil(tiles /
 *     cores) x Kt at c cycles each (fitted per architecture, storage format
 *     and fidelity), or streaming its in1 panel (pn x Kt tiles, pn = the
 *     block's tile columns) at r bytes per cycle if that is slower;
 *   compute (element-wise): ceil(tiles / cores) tiles at 8 cycles per pass
 *     (8x16 values per cycle), passes that multiply taking one pass per
 *     fidelity phase (matrix_engine.md);
 *   DRAM: bytes of the DRAM-resident operands over the achieved bandwidth;
 *   per-core traffic: each core's share of the DRAM bytes at the per-core DRAM
 *     read / write rates, of the L1-resident bytes at the core-to-core rate.
 * ideal = tt-metal's ideal cycles (matmul: tiles x Kt x 16 x phases / cores)
 * or the uncalibrated roofline (other kernels); utilisation = ideal / cycles.
 */
#include "ttsim_internal.h"

#include <math.h>
#include <string.h>

static gint64 timing_ceil_div(gint64 a, gint64 b) { return (a + b - 1) / b; }

static double max2(double a, double b) { return a > b ? a : b; }

static void finish(const ttsim_config *c, const ttsim_calib *k, const ttsim_traffic *b, ttsim_timing *t)
{
    int used = t->cores_used > 0 ? t->cores_used : 1;
    double dram = b->dram_read + b->dram_written;
    t->dram_cycles = dram / (c->dram_bytes_per_s * k->dram_efficiency) * c->clock_hz;
    double rd = b->dram_read / used / k->dram_read_bpc, wr = b->dram_written / used / k->dram_write_bpc;
    double l1 = max2(b->l1_read, b->l1_written) / used / k->noc_bpc;
    t->noc_cycles = max2(max2(rd, wr), l1);
    t->latency_cycles = dram > 0 ? k->dram_latency_cycles : 0.0;
    t->cycles = t->fixed_cycles + t->latency_cycles + max2(t->compute_cycles, max2(t->dram_cycles, t->noc_cycles));
    t->seconds = t->cycles / c->clock_hz;
    t->ideal_seconds = t->ideal_cycles / c->clock_hz;
}

void ttsim_timing_matmul(const ttsim_config *c, gint64 batch, gint64 m, gint64 n, gint64 k,
                         const ttsim_traffic *bytes, ttsim_timing *t)
{
    memset(t, 0, sizeof *t);
    ttsim_calib cal;
    ttsim_calib_get(c, &cal);
    gint64 mt = timing_ceil_div(m, 32), nt = timing_ceil_div(n, 32), kt = timing_ceil_div(k, 32);
    gint64 tiles = batch * mt * nt;
    t->tiles = tiles;
    t->cores_used = (int)(tiles < c->n_cores ? tiles : c->n_cores);
    t->flops = 2.0 * (double)batch * (double)m * (double)n * (double)k;
    if (tiles > 0 && kt > 0) {
        gint64 per_core = timing_ceil_div(tiles, c->n_cores);
        gint64 pm = MIN(mt, timing_ceil_div(mt, c->arch->grid_y));
        gint64 pn = MIN(nt, timing_ceil_div(per_core, pm));
        double in1 = (double)(pn * kt) * (double)ttsim_format_tile_bytes(c->storage);
        t->compute_cycles = max2((double)(per_core * kt) * cal.cycles_per_tp, in1 / cal.in1_bpc);
        t->ideal_cycles = (double)tiles * (double)kt * 16.0 * (double)c->fidelity / (double)c->n_cores;
        t->fixed_cycles = cal.fixed_cycles - cal.dram_latency_cycles;
    }
    finish(c, &cal, bytes, t);
}

void ttsim_timing_eltwise(const ttsim_config *c, gint64 tiles, double factor, double fid_passes,
                          double flops, const ttsim_traffic *bytes, ttsim_timing *t)
{
    memset(t, 0, sizeof *t);
    ttsim_calib cal;
    ttsim_calib_get(c, &cal);
    t->tiles = tiles;
    t->cores_used = (int)(tiles < c->n_cores ? tiles : c->n_cores);
    gint64 per_core = t->cores_used ? timing_ceil_div(tiles, c->n_cores) : 0;
    double passes = factor + fid_passes * ((double)c->fidelity - 1.0);
    t->compute_cycles = (double)per_core * (1024.0 / 128.0) * passes;
    t->flops = flops;
    double spec_dram = (bytes->dram_read + bytes->dram_written) / c->dram_bytes_per_s * c->clock_hz;
    t->ideal_cycles = max2(t->compute_cycles, spec_dram);
    t->fixed_cycles = cal.other_fixed_cycles - cal.dram_latency_cycles;
    finish(c, &cal, bytes, t);
}

double ttsim_peak_flops(const ttsim_config *c)
{
    return (double)c->n_cores * 2048.0 * 2.0 * c->clock_hz / (double)c->fidelity;
}
