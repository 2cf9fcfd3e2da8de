/* drivers/ttsim/timing/ttsim_calib.c - the timing model's calibration tables (data).
 *
 * Per architecture: achieved DRAM bandwidth and per-core data-movement rates
 * (published figures, see docs/ttsim.md "Timing model" for the citations).
 * Per (architecture, storage format, math fidelity): the matmul's fixed
 * per-launch cost L, cycles per 32x32x32 tile product c and the in1 panel
 * rate r, fitted (minimax relative error) to the traced rows of tt-metal's
 * tech_reports/GEMM_FLOPS/GEMM_FLOPS.md "N150 Manually Tuned Configurations"
 * and "P150 Manually Tuned Configurations (13x10 grid)" with every dimension
 * at most 4096 (bf16, bfp8_b and bfp4_b). Pairs without published rows are
 * derived by the rule in
 * docs/ttsim.md (and marked so below); n300 uses the wormhole_b0 figures.
 */
#include "ttsim_internal.h"

#include <string.h>

typedef struct {
    const char *arch;
    double dram_efficiency;      /* achieved / spec aggregate DRAM bandwidth  */
    double dram_read_bpc;        /* one core reading DRAM, bytes per cycle    */
    double dram_write_bpc;       /* one core writing DRAM                     */
    double noc_bpc;              /* core to core ("one to one")               */
    double other_fixed_cycles;   /* fixed cost of a launch other than matmul  */
    double dram_latency_cycles;  /* one DRAM round trip, part of the fixed cost */
} calib_arch;

/* DRAM: 267 of 288 GB/s (Saturating_DRAM_bandwidth.md, n150 u-benchmark);
 * no published Blackhole figure: the same fraction. Per-core rates:
 * tests/tt_metal/tt_metal/data_movement/documentation/ideal_performance.md
 * (DRAM Read, DRAM Write, One To One). Other launches: the smallest fitted
 * matmul L of the architecture (an assumption; no per-op figure is published).
 * DRAM latency: the NoC round trip over the average hop count of the worker
 * grid's torus ((gx - 1) / 2 + (gy - 1) / 2), tt-isa-documentation
 * WormholeB0/NoC/README.md "Performance": ~5 cycles NIU to router, 9 per
 * router hop, ~5 router to NIU: 2 x (5 + 9 x 7 + 5) = 146 (8x8), 2 x (5 + 9 x
 * 10.5 + 5) = 209 (13x10; Blackhole's NoC taken as Wormhole's). It is part of
 * the fitted L: a launch that touches no DRAM pays L without it. */
static const calib_arch arch_rows[] = {
    {"wormhole_b0", 267.0 / 288.0, 22, 21, 29, 4100, 146},
    {"blackhole", 267.0 / 288.0, 33, 34, 60, 8700, 209},
};

typedef struct {
    const char *arch;
    ttsim_format fmt;
    ttsim_fidelity fid;
    double fixed_cycles, cycles_per_tp, in1_bpc;
    gboolean published;
} calib_mm;

/* fp32 storage has no published rows: it uses the bf16 row of its fidelity.
 * bfp4_b is published at LoFi only: its other fidelities take the LoFi c
 * plus bfp8_b's increase from LoFi, at least the ideal 16 x phases (on both
 * architectures that is the ideal), with the LoFi L and r. */
static const calib_mm mm_rows[] = {
    {"wormhole_b0", TTSIM_FMT_BF16, TTSIM_LOFI, 6100, 34.69, 14, FALSE},
    {"wormhole_b0", TTSIM_FMT_BF16, TTSIM_HIFI2, 6100, 47.35, 14, TRUE},
    {"wormhole_b0", TTSIM_FMT_BF16, TTSIM_HIFI3, 4100, 60.02, 12, FALSE},
    {"wormhole_b0", TTSIM_FMT_BF16, TTSIM_HIFI4, 4100, 72.68, 12, TRUE},
    {"wormhole_b0", TTSIM_FMT_BFP8B, TTSIM_LOFI, 5400, 26.90, 12, TRUE},
    {"wormhole_b0", TTSIM_FMT_BFP8B, TTSIM_HIFI2, 4100, 37.79, 10, TRUE},
    {"wormhole_b0", TTSIM_FMT_BFP8B, TTSIM_HIFI3, 4100, 48.68, 10, FALSE},
    {"wormhole_b0", TTSIM_FMT_BFP8B, TTSIM_HIFI4, 4100, 64.00, 10, FALSE},
    {"wormhole_b0", TTSIM_FMT_BFP4B, TTSIM_LOFI, 5300, 19.36, 8, TRUE},
    {"wormhole_b0", TTSIM_FMT_BFP4B, TTSIM_HIFI2, 5300, 32.00, 8, FALSE},
    {"wormhole_b0", TTSIM_FMT_BFP4B, TTSIM_HIFI3, 5300, 48.00, 8, FALSE},
    {"wormhole_b0", TTSIM_FMT_BFP4B, TTSIM_HIFI4, 5300, 64.00, 8, FALSE},
    {"blackhole", TTSIM_FMT_BF16, TTSIM_LOFI, 10500, 17.50, 22, FALSE},
    {"blackhole", TTSIM_FMT_BF16, TTSIM_HIFI2, 10500, 33.55, 22, TRUE},
    {"blackhole", TTSIM_FMT_BF16, TTSIM_HIFI3, 8700, 49.59, 16, FALSE},
    {"blackhole", TTSIM_FMT_BF16, TTSIM_HIFI4, 8700, 65.64, 16, TRUE},
    {"blackhole", TTSIM_FMT_BFP8B, TTSIM_LOFI, 11000, 18.06, 16, TRUE},
    {"blackhole", TTSIM_FMT_BFP8B, TTSIM_HIFI2, 10600, 32.64, 16, TRUE},
    {"blackhole", TTSIM_FMT_BFP8B, TTSIM_HIFI3, 10600, 48.00, 16, FALSE},
    {"blackhole", TTSIM_FMT_BFP8B, TTSIM_HIFI4, 10600, 64.00, 16, FALSE},
    {"blackhole", TTSIM_FMT_BFP4B, TTSIM_LOFI, 10850, 17.02, 10, TRUE},
    {"blackhole", TTSIM_FMT_BFP4B, TTSIM_HIFI2, 10850, 32.00, 10, FALSE},
    {"blackhole", TTSIM_FMT_BFP4B, TTSIM_HIFI3, 10850, 48.00, 10, FALSE},
    {"blackhole", TTSIM_FMT_BFP4B, TTSIM_HIFI4, 10850, 64.00, 10, FALSE},
};

const char *ttsim_calib_version(void)
{
    return "ttsim timing model " TTSIM_TIMING_VERSION;
}

const char *ttsim_calib_source(void)
{
    return "tt-metal tech_reports/GEMM_FLOPS/GEMM_FLOPS.md (N150 and P150 13x10 manually tuned, traced "
           "rows <= 4096), Saturating_DRAM_bandwidth.md, matrix_engine.md, data_movement "
           "ideal_performance.md";
}

void ttsim_calib_get(const ttsim_config *c, ttsim_calib *out)
{
    memset(out, 0, sizeof *out);
    const char *arch = strcmp(c->arch->name, "blackhole") == 0 ? "blackhole" : "wormhole_b0";
    out->arch = arch;
    for (size_t i = 0; i < G_N_ELEMENTS(arch_rows); i++) {
        const calib_arch *a = &arch_rows[i];
        if (strcmp(a->arch, arch) != 0) continue;
        out->dram_efficiency = a->dram_efficiency;
        out->dram_read_bpc = a->dram_read_bpc;
        out->dram_write_bpc = a->dram_write_bpc;
        out->noc_bpc = a->noc_bpc;
        out->other_fixed_cycles = a->other_fixed_cycles;
        out->dram_latency_cycles = a->dram_latency_cycles;
    }
    ttsim_format fmt = ttsim_format_is_block(c->storage) ? c->storage : TTSIM_FMT_BF16;
    for (size_t i = 0; i < G_N_ELEMENTS(mm_rows); i++) {
        const calib_mm *m = &mm_rows[i];
        if (strcmp(m->arch, arch) != 0 || m->fmt != fmt || m->fid != c->fidelity) continue;
        out->fixed_cycles = m->fixed_cycles;
        out->cycles_per_tp = m->cycles_per_tp;
        out->in1_bpc = m->in1_bpc;
        out->published = m->published && c->storage == fmt;
    }
}
