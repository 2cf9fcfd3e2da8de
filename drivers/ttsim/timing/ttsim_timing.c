/* drivers/ttsim/timing/ttsim_timing.c - the per-launch timing model.
 *
 * cycles = max(compute, data movement) on the busiest core:
 *   compute (matmul): the output tiles are split over the grid as tt-metal
 *     does (ceil(tiles / cores) on the busiest core); each output tile
 *     accumulates Kt tile products of 32x32x32 = 32768 MACs at
 *     2048 MACs/cycle divided by the fidelity phases: 16 x phases cycles.
 *   compute (element-wise): ceil(tiles / cores) tiles, 1024 values at
 *     8x16 = 128 per cycle = 8 cycles per tile, times the op's pass factor.
 *   data movement: max(DRAM: all bytes read + written / the aggregate DRAM
 *     bandwidth, NoC: the busiest core's bytes / its NoC link width; reads
 *     on NoC0 and writes on NoC1 run concurrently).
 * seconds = cycles / clock. No dispatch overhead, no overlap between
 * launches, no caching in L1: see docs/ttsim.md for the limits.
 */
#include "ttsim_internal.h"

#include <math.h>
#include <string.h>

static gint64 timing_ceil_div(gint64 a, gint64 b) { return (a + b - 1) / b; }

static void finish(const ttsim_config *c, double bytes_read, double bytes_written, ttsim_timing *t)
{
    int used = t->cores_used > 0 ? t->cores_used : 1;
    t->dram_cycles = (bytes_read + bytes_written) / c->dram_bytes_per_s * c->clock_hz;
    double rd = ceil(bytes_read / used), wr = ceil(bytes_written / used);
    t->noc_cycles = (rd > wr ? rd : wr) / c->noc_bytes_per_cycle;
    double data = t->dram_cycles > t->noc_cycles ? t->dram_cycles : t->noc_cycles;
    t->cycles = t->compute_cycles > data ? t->compute_cycles : data;
    t->seconds = t->cycles / c->clock_hz;
}

void ttsim_timing_matmul(const ttsim_config *c, gint64 batch, gint64 m, gint64 n, gint64 k,
                         double bytes_read, double bytes_written, ttsim_timing *t)
{
    memset(t, 0, sizeof *t);
    gint64 tiles = batch * timing_ceil_div(m, 32) * timing_ceil_div(n, 32);
    gint64 kt = timing_ceil_div(k, 32);
    t->tiles = tiles;
    t->cores_used = (int)(tiles < c->n_cores ? tiles : c->n_cores);
    gint64 per_core = t->cores_used ? timing_ceil_div(tiles, c->n_cores) : 0;
    t->compute_cycles = (double)per_core * (double)kt * (32768.0 / 2048.0) * (double)c->fidelity;
    t->flops = 2.0 * (double)batch * (double)m * (double)n * (double)k;
    finish(c, bytes_read, bytes_written, t);
}

void ttsim_timing_eltwise(const ttsim_config *c, gint64 tiles, double factor, double flops,
                          double bytes_read, double bytes_written, ttsim_timing *t)
{
    memset(t, 0, sizeof *t);
    t->tiles = tiles;
    t->cores_used = (int)(tiles < c->n_cores ? tiles : c->n_cores);
    gint64 per_core = t->cores_used ? timing_ceil_div(tiles, c->n_cores) : 0;
    t->compute_cycles = (double)per_core * (1024.0 / 128.0) * factor;
    t->flops = flops;
    finish(c, bytes_read, bytes_written, t);
}

double ttsim_peak_flops(const ttsim_config *c)
{
    return (double)c->n_cores * 2048.0 * 2.0 * c->clock_hz / (double)c->fidelity;
}
