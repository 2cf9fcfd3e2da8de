/* tests/test_ttsim_calib.c - ttsim's clock against Tenstorrent's published
 * matmul measurements.
 *
 * Source: tenstorrent/tt-metal, tech_reports/GEMM_FLOPS/GEMM_FLOPS.md, the
 * tables "N150 Manually Tuned Configurations" and "P150 Manually Tuned
 * Configurations (13x10 grid)", every row with use_trace = True (the traced
 * rows time the device without host dispatch). Per row: m, k, n, dtype, math
 * fidelity, where in0 and the output lived (in0_sharded / out_sharded = True:
 * L1; otherwise DRAM; in1 is always DRAM) and the published "Device based
 * utilization[%]". The report's formula: utilisation = ideal cycles / actual
 * cycles, ideal cycles = m k n / 32^3 x (16 x fidelity phases) / cores, so the
 * published device time = ideal cycles / utilisation / clock (1 GHz n150 8x8,
 * 1.35 GHz p150 13x10) = FLOPs / (utilisation x peak).
 *
 * Each row runs through the public API as a user would: a ttsim device with
 * the row's architecture, storage format and fidelity, in0 / out allocated in
 * L1 or DRAM as the row had them, one matmul launch, the simulated time of
 * that launch from ttml_device_get_stats. It must be within 15% of the
 * published device time. Rows with a dimension above 4096 run only in the
 * NIGHTLY_ttsim_calibration ctest entry (TTML_NIGHTLY=1, label NIGHTLY; within
 * 20% there, outside the fitted range),
 * which also prints the out-of-sample comparison with the report's out-of-box
 * rows (`test_ttsim_calib --out-of-box` prints only that).
 * Every dtype of the tables runs: BFLOAT16 (storage=bf16), BFLOAT8_B
 * (bfp8_b) and BFLOAT4_B (bfp4_b, published at LoFi only).
 */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    const char *board;
    int m, k, n;
    const char *fmt;   /* ttsim storage= value                                   */
    const char *fid;   /* ttsim fidelity= value                                  */
    int l1;            /* in0 and out in L1 (sharded in the published run)       */
    double util_pct;   /* published "Device based utilization[%]"                */
} calib_row;

static const calib_row rows[] = {
    /* "N150 Manually Tuned Configurations", use_trace = True */
    {"n150", 512, 512, 512, "bf16", "HiFi2", 1, 20.61},
    {"n150", 512, 1024, 1024, "bf16", "HiFi2", 1, 31.42},
    {"n150", 512, 1024, 2048, "bf16", "HiFi2", 1, 34.04},
    {"n150", 1024, 1024, 1024, "bf16", "HiFi2", 1, 47.79},
    {"n150", 1024, 1024, 2048, "bf16", "HiFi2", 1, 53.61},
    {"n150", 1024, 2048, 2048, "bf16", "HiFi2", 1, 57.63},
    {"n150", 2048, 2048, 2048, "bf16", "HiFi2", 1, 64.87},
    {"n150", 2048, 2048, 3072, "bf16", "HiFi2", 1, 64.50},
    {"n150", 2048, 3072, 3072, "bf16", "HiFi2", 1, 65.52},
    {"n150", 3072, 3072, 3072, "bf16", "HiFi2", 1, 64.56},
    {"n150", 3072, 3072, 4096, "bf16", "HiFi2", 0, 74.19},
    {"n150", 3072, 4096, 4096, "bf16", "HiFi2", 0, 75.09},
    {"n150", 3328, 2560, 2560, "bf16", "HiFi2", 0, 63.13},
    {"n150", 4096, 4096, 4096, "bf16", "HiFi2", 0, 59.45},
    {"n150", 8192, 8192, 8192, "bf16", "HiFi2", 0, 66.47},
    {"n150", 16384, 16384, 16384, "bf16", "HiFi2", 0, 71.34},
    {"n150", 512, 512, 512, "bf16", "HiFi4", 1, 40.77},
    {"n150", 512, 1024, 1024, "bf16", "HiFi4", 1, 61.25},
    {"n150", 512, 1024, 2048, "bf16", "HiFi4", 1, 65.52},
    {"n150", 1024, 1024, 1024, "bf16", "HiFi4", 1, 77.17},
    {"n150", 1024, 1024, 2048, "bf16", "HiFi4", 1, 80.67},
    {"n150", 1024, 2048, 2048, "bf16", "HiFi4", 1, 85.03},
    {"n150", 2048, 2048, 2048, "bf16", "HiFi4", 1, 89.59},
    {"n150", 2048, 2048, 3072, "bf16", "HiFi4", 1, 90.18},
    {"n150", 2048, 3072, 3072, "bf16", "HiFi4", 1, 92.03},
    {"n150", 3072, 3072, 3072, "bf16", "HiFi4", 1, 92.40},
    {"n150", 3072, 3072, 4096, "bf16", "HiFi4", 0, 91.68},
    {"n150", 3072, 4096, 4096, "bf16", "HiFi4", 0, 92.18},
    {"n150", 3328, 2560, 2560, "bf16", "HiFi4", 0, 89.40},
    {"n150", 4096, 4096, 4096, "bf16", "HiFi4", 0, 83.19},
    {"n150", 8192, 8192, 8192, "bf16", "HiFi4", 0, 88.70},
    {"n150", 16384, 16384, 16384, "bf16", "HiFi4", 0, 91.45},
    {"n150", 512, 512, 512, "bfp8_b", "HiFi2", 1, 26.13},
    {"n150", 512, 1024, 1024, "bfp8_b", "HiFi2", 1, 43.97},
    {"n150", 512, 1024, 2048, "bfp8_b", "HiFi2", 1, 51.64},
    {"n150", 1024, 1024, 1024, "bfp8_b", "HiFi2", 1, 67.47},
    {"n150", 1024, 1024, 2048, "bfp8_b", "HiFi2", 1, 72.10},
    {"n150", 1024, 2048, 2048, "bfp8_b", "HiFi2", 1, 78.55},
    {"n150", 2048, 2048, 2048, "bfp8_b", "HiFi2", 1, 84.30},
    {"n150", 2048, 2048, 3072, "bfp8_b", "HiFi2", 1, 85.53},
    {"n150", 2048, 3072, 3072, "bfp8_b", "HiFi2", 1, 86.94},
    {"n150", 3072, 3072, 3072, "bfp8_b", "HiFi2", 1, 88.56},
    {"n150", 3072, 3072, 4096, "bfp8_b", "HiFi2", 1, 89.15},
    {"n150", 3328, 2560, 2560, "bfp8_b", "HiFi2", 0, 85.09},
    {"n150", 4096, 4096, 4096, "bfp8_b", "HiFi2", 0, 79.43},
    {"n150", 8192, 8192, 8192, "bfp8_b", "HiFi2", 0, 83.95},
    {"n150", 16384, 16384, 16384, "bfp8_b", "HiFi2", 0, 86.65},
    {"n150", 512, 512, 512, "bfp8_b", "LoFi", 1, 13.16},
    {"n150", 512, 1024, 1024, "bfp8_b", "LoFi", 1, 23.14},
    {"n150", 512, 1024, 2048, "bfp8_b", "LoFi", 1, 27.54},
    {"n150", 1024, 1024, 1024, "bfp8_b", "LoFi", 1, 39.72},
    {"n150", 1024, 1024, 2048, "bfp8_b", "LoFi", 1, 45.99},
    {"n150", 1024, 2048, 2048, "bfp8_b", "LoFi", 1, 52.68},
    {"n150", 2048, 2048, 2048, "bfp8_b", "LoFi", 1, 58.89},
    {"n150", 2048, 2048, 3072, "bfp8_b", "LoFi", 1, 59.29},
    {"n150", 2048, 3072, 3072, "bfp8_b", "LoFi", 1, 61.18},
    {"n150", 3072, 3072, 3072, "bfp8_b", "LoFi", 1, 61.56},
    {"n150", 3072, 3072, 4096, "bfp8_b", "LoFi", 1, 63.26},
    {"n150", 3328, 2560, 2560, "bfp8_b", "LoFi", 0, 58.62},
    {"n150", 4096, 4096, 4096, "bfp8_b", "LoFi", 0, 58.85},
    {"n150", 8192, 8192, 8192, "bfp8_b", "LoFi", 0, 64.77},
    {"n150", 16384, 16384, 16384, "bfp8_b", "LoFi", 0, 69.50},
    {"n150", 512, 512, 512, "bfp4_b", "LoFi", 1, 14.38},
    {"n150", 512, 1024, 1024, "bfp4_b", "LoFi", 1, 27.21},
    {"n150", 512, 1024, 2048, "bfp4_b", "LoFi", 1, 34.89},
    {"n150", 1024, 1024, 1024, "bfp4_b", "LoFi", 1, 50.85},
    {"n150", 1024, 1024, 2048, "bfp4_b", "LoFi", 1, 60.69},
    {"n150", 1024, 2048, 2048, "bfp4_b", "LoFi", 1, 70.64},
    {"n150", 2048, 2048, 2048, "bfp4_b", "LoFi", 1, 78.81},
    {"n150", 2048, 2048, 3072, "bfp4_b", "LoFi", 1, 79.79},
    {"n150", 2048, 3072, 3072, "bfp4_b", "LoFi", 1, 82.18},
    {"n150", 3072, 3072, 3072, "bfp4_b", "LoFi", 1, 84.58},
    {"n150", 3072, 3072, 4096, "bfp4_b", "LoFi", 1, 85.49},
    {"n150", 3072, 4096, 4096, "bfp4_b", "LoFi", 1, 86.70},
    {"n150", 3328, 2560, 2560, "bfp4_b", "LoFi", 0, 81.62},
    {"n150", 4096, 4096, 4096, "bfp4_b", "LoFi", 1, 87.66},
    {"n150", 8192, 8192, 8192, "bfp4_b", "LoFi", 0, 82.59},
    {"n150", 16384, 16384, 16384, "bfp4_b", "LoFi", 0, 84.75},
    /* "P150 Manually Tuned Configurations (13x10 grid)", use_trace = True */
    {"p150", 640, 832, 832, "bf16", "HiFi2", 1, 20.59},
    {"p150", 640, 1664, 1664, "bf16", "HiFi2", 1, 44.56},
    {"p150", 640, 1664, 3328, "bf16", "HiFi2", 1, 54.64},
    {"p150", 1280, 1664, 1664, "bf16", "HiFi2", 1, 73.03},
    {"p150", 1280, 1664, 3328, "bf16", "HiFi2", 1, 78.10},
    {"p150", 1280, 3328, 3328, "bf16", "HiFi2", 1, 82.50},
    {"p150", 2560, 3328, 3328, "bf16", "HiFi2", 1, 87.05},
    {"p150", 2560, 3328, 4992, "bf16", "HiFi2", 1, 87.71},
    {"p150", 2560, 4992, 4992, "bf16", "HiFi2", 1, 88.81},
    {"p150", 3840, 4992, 4992, "bf16", "HiFi2", 1, 88.42},
    {"p150", 3840, 4992, 6656, "bf16", "HiFi2", 0, 89.60},
    {"p150", 3840, 6656, 6656, "bf16", "HiFi2", 0, 90.24},
    {"p150", 4160, 4160, 4160, "bf16", "HiFi2", 0, 88.30},
    {"p150", 5120, 6656, 6656, "bf16", "HiFi2", 0, 80.37},
    {"p150", 10240, 13312, 13312, "bf16", "HiFi2", 0, 85.15},
    {"p150", 20480, 26624, 26624, "bf16", "HiFi2", 0, 88.66},
    {"p150", 640, 832, 832, "bf16", "HiFi4", 1, 41.34},
    {"p150", 640, 1664, 1664, "bf16", "HiFi4", 1, 76.58},
    {"p150", 640, 1664, 3328, "bf16", "HiFi4", 1, 81.82},
    {"p150", 1280, 1664, 1664, "bf16", "HiFi4", 1, 85.19},
    {"p150", 1280, 1664, 3328, "bf16", "HiFi4", 1, 88.02},
    {"p150", 1280, 3328, 3328, "bf16", "HiFi4", 1, 90.53},
    {"p150", 2560, 3328, 3328, "bf16", "HiFi4", 1, 93.17},
    {"p150", 2560, 3328, 4992, "bf16", "HiFi4", 1, 93.49},
    {"p150", 2560, 4992, 4992, "bf16", "HiFi4", 1, 94.08},
    {"p150", 3840, 4992, 4992, "bf16", "HiFi4", 1, 93.83},
    {"p150", 3840, 4992, 6656, "bf16", "HiFi4", 0, 94.53},
    {"p150", 3840, 6656, 6656, "bf16", "HiFi4", 0, 94.88},
    {"p150", 4160, 4160, 4160, "bf16", "HiFi4", 0, 93.82},
    {"p150", 5120, 6656, 6656, "bf16", "HiFi4", 0, 90.36},
    {"p150", 10240, 13312, 13312, "bf16", "HiFi4", 0, 92.98},
    {"p150", 20480, 26624, 26624, "bf16", "HiFi4", 0, 94.44},
    {"p150", 640, 832, 832, "bfp8_b", "HiFi2", 1, 22.39},
    {"p150", 640, 1664, 1664, "bfp8_b", "HiFi2", 1, 52.10},
    {"p150", 640, 1664, 3328, "bfp8_b", "HiFi2", 1, 68.21},
    {"p150", 1280, 1664, 1664, "bfp8_b", "HiFi2", 1, 74.43},
    {"p150", 1280, 1664, 3328, "bfp8_b", "HiFi2", 1, 79.44},
    {"p150", 1280, 3328, 3328, "bfp8_b", "HiFi2", 1, 84.74},
    {"p150", 2560, 3328, 3328, "bfp8_b", "HiFi2", 1, 88.28},
    {"p150", 2560, 3328, 4992, "bfp8_b", "HiFi2", 1, 88.79},
    {"p150", 2560, 4992, 4992, "bfp8_b", "HiFi2", 1, 89.93},
    {"p150", 3840, 4992, 4992, "bfp8_b", "HiFi2", 1, 90.26},
    {"p150", 3840, 4992, 6656, "bfp8_b", "HiFi2", 1, 90.75},
    {"p150", 4160, 4160, 4160, "bfp8_b", "HiFi2", 0, 89.55},
    {"p150", 5120, 6656, 6656, "bfp8_b", "HiFi2", 0, 86.31},
    {"p150", 10240, 13312, 13312, "bfp8_b", "HiFi2", 0, 89.05},
    {"p150", 20480, 26624, 26624, "bfp8_b", "HiFi2", 0, 90.53},
    {"p150", 640, 832, 832, "bfp8_b", "LoFi", 1, 11.17},
    {"p150", 640, 1664, 1664, "bfp8_b", "LoFi", 1, 26.15},
    {"p150", 640, 1664, 3328, "bfp8_b", "LoFi", 1, 34.69},
    {"p150", 1280, 1664, 1664, "bfp8_b", "LoFi", 1, 51.90},
    {"p150", 1280, 1664, 3328, "bfp8_b", "LoFi", 1, 66.05},
    {"p150", 1280, 3328, 3328, "bfp8_b", "LoFi", 1, 76.30},
    {"p150", 2560, 3328, 3328, "bfp8_b", "LoFi", 1, 83.15},
    {"p150", 2560, 3328, 4992, "bfp8_b", "LoFi", 1, 83.75},
    {"p150", 2560, 4992, 4992, "bfp8_b", "LoFi", 1, 85.89},
    {"p150", 3840, 4992, 4992, "bfp8_b", "LoFi", 1, 86.53},
    {"p150", 3840, 4992, 6656, "bfp8_b", "LoFi", 1, 87.49},
    {"p150", 4160, 4160, 4160, "bfp8_b", "LoFi", 0, 85.10},
    {"p150", 5120, 6656, 6656, "bfp8_b", "LoFi", 0, 77.48},
    {"p150", 10240, 13312, 13312, "bfp8_b", "LoFi", 0, 82.53},
    {"p150", 20480, 26624, 26624, "bfp8_b", "LoFi", 0, 86.21},
    {"p150", 640, 832, 832, "bfp4_b", "LoFi", 1, 11.70},
    {"p150", 640, 1664, 1664, "bfp4_b", "LoFi", 1, 28.30},
    {"p150", 640, 1664, 3328, "bfp4_b", "LoFi", 1, 38.56},
    {"p150", 1280, 1664, 1664, "bfp4_b", "LoFi", 1, 54.74},
    {"p150", 1280, 1664, 3328, "bfp4_b", "LoFi", 1, 68.20},
    {"p150", 1280, 3328, 3328, "bfp4_b", "LoFi", 1, 77.67},
    {"p150", 2560, 3328, 3328, "bfp4_b", "LoFi", 1, 83.26},
    {"p150", 2560, 3328, 4992, "bfp4_b", "LoFi", 1, 84.39},
    {"p150", 2560, 4992, 4992, "bfp4_b", "LoFi", 1, 86.36},
    {"p150", 3840, 4992, 4992, "bfp4_b", "LoFi", 1, 87.83},
    {"p150", 3840, 4992, 6656, "bfp4_b", "LoFi", 1, 88.48},
    {"p150", 3840, 6656, 6656, "bfp4_b", "LoFi", 1, 88.87},
    {"p150", 4160, 4160, 4160, "bfp4_b", "LoFi", 0, 86.27},
    {"p150", 5120, 6656, 6656, "bfp4_b", "LoFi", 1, 89.48},
    {"p150", 10240, 13312, 13312, "bfp4_b", "LoFi", 0, 89.29},
    {"p150", 20480, 26624, 26624, "bfp4_b", "LoFi", 0, 90.45},
};

static gboolean nightly;

static double published_seconds(const calib_row *r)
{
    gboolean bh = strcmp(r->board, "p150") == 0;
    double cores = bh ? 130.0 : 64.0, clock = bh ? 1.35e9 : 1.0e9;
    double phases = strcmp(r->fid, "LoFi") == 0 ? 1 : strcmp(r->fid, "HiFi2") == 0 ? 2 : 4;
    double ideal = (double)r->m * r->k * r->n / 32768.0 * 16.0 * phases / cores;
    return ideal / (r->util_pct / 100.0) / clock;
}

static ttml_view make_view(ttml_device *d, int64_t rows_, int64_t cols, ttml_mem_kind kind, ttml_tensor **keep,
                           ttml_buffer **buf, GError **err)
{
    int64_t s[2] = {rows_, cols};
    ttml_view v = {0};
    if (kind == TTML_MEM_DRAM) {
        *keep = ttml_tensor_full(d, 2, s, TTML_DTYPE_F32, 0.25f, err);
        if (*keep) v = ttml_tensor_view(*keep);
        return v;
    }
    *buf = ttml_buffer_new_shaped(d, 2, s, TTML_DTYPE_F32, kind, err);
    v.buf = *buf;
    v.ndim = 2;
    v.shape[0] = rows_;
    v.shape[1] = cols;
    v.dtype = TTML_DTYPE_F32;
    return v;
}

/* Run one row; the simulated seconds of its matmul launch. */
static double simulate(const calib_row *r)
{
    char spec[128];
    g_snprintf(spec, sizeof spec, "ttsim:%s,storage=%s,fidelity=%s,report=off",
               strcmp(r->board, "p150") == 0 ? "blackhole" : "wormhole_b0", r->fmt, r->fid);
    GError *err = NULL;
    /* one device per (architecture, storage, fidelity): devices live until
     * ttml_shutdown, each with its host scratch */
    static GHashTable *open_devices;
    if (!open_devices) open_devices = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ttml_device *d = g_hash_table_lookup(open_devices, spec);
    if (!d) {
        d = ttml_device_open(spec, &err);
        TTML_ASSERT_NO_ERROR(err);
        g_hash_table_insert(open_devices, g_strdup(spec), d);
    }
    ttml_mem_kind k0 = r->l1 ? TTML_MEM_L1 : TTML_MEM_DRAM;
    ttml_tensor *ta = NULL, *tb = NULL, *to = NULL;
    ttml_buffer *ba = NULL, *bb = NULL, *bo = NULL;
    ttml_matmul_params p = {0, 0, 1.0f, 0.0f};
    ttml_launch l = {.kernel = "matmul", .n_in = 2, .n_out = 1, .params = &p, .params_size = sizeof p};
    l.in[0] = make_view(d, r->m, r->k, k0, &ta, &ba, &err);
    TTML_ASSERT_NO_ERROR(err);
    l.in[1] = make_view(d, r->k, r->n, TTML_MEM_DRAM, &tb, &bb, &err);
    TTML_ASSERT_NO_ERROR(err);
    l.out[0] = make_view(d, r->m, r->n, k0, &to, &bo, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_kernel_launch(d, &l, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_device_stats st;
    CU_ASSERT_TRUE(ttml_device_get_stats(d, &st));
    if (ta) ttml_tensor_unref(ta);
    if (tb) ttml_tensor_unref(tb);
    if (to) ttml_tensor_unref(to);
    if (ba) ttml_buffer_unref(ba);
    if (bb) ttml_buffer_unref(bb);
    if (bo) ttml_buffer_unref(bo);
    return st.sim_last_launch_s;
}

static void test_published_rows(void)
{
    double worst = 0;
    int ran = 0;
    printf("\n  %-5s %6s %6s %6s %-7s %-6s %-4s %12s %12s %7s\n", "board", "m", "k", "n", "storage", "fid",
           "in0", "published us", "ttsim us", "ratio");
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        const calib_row *r = &rows[i];
        gboolean big = r->m > 4096 || r->k > 4096 || r->n > 4096;
        if (big != nightly) continue;
        /* TTSIM_CALIB_ONLY=bfp4_b runs only the rows of that storage format (debugging) */
        const char *only = g_getenv("TTSIM_CALIB_ONLY");
        if (only && *only && strcmp(only, r->fmt) != 0) continue;
        double pub = published_seconds(r);
        double sim = simulate(r), ratio = sim / pub;
        printf("  %-5s %6d %6d %6d %-7s %-6s %-4s %12.2f %12.2f %7.3f%s\n", r->board, r->m, r->k, r->n, r->fmt,
               r->fid, r->l1 ? "L1" : "DRAM", pub * 1e6, sim * 1e6, ratio, fabs(ratio - 1) > 0.15 ? "  > 15%" : "");
        /* rows above 4096 are outside the fit: 20% there (two rows are at 15-17%) */
        CU_ASSERT(fabs(ratio - 1) <= (nightly ? 0.20 : 0.15));
        if (fabs(ratio - 1) > worst) worst = fabs(ratio - 1);
        ran++;
    }
    printf("  %d rows run, worst |ttsim / published - 1| = %.3f\n", ran, worst);
    CU_ASSERT(ran > 0);
}

/* ---- out of sample: published figures the calibration was not fitted to ---- */

/* The same report's "N150 Out of Box Results" and "P150 Out of Box Results
 * (13x10 grid)", use_trace = True, every operand in DRAM (ttml's default
 * placement), auto-selected configurations; the dtypes ttsim stores. */
static const calib_row out_of_box[] = {
    {"n150", 512, 512, 512, "bf16", "HiFi2", 0, 17.82},      {"n150", 512, 1024, 1024, "bf16", "HiFi2", 0, 9.00},
    {"n150", 512, 1024, 2048, "bf16", "HiFi2", 0, 16.70},    {"n150", 1024, 1024, 1024, "bf16", "HiFi2", 0, 41.64},
    {"n150", 1024, 1024, 2048, "bf16", "HiFi2", 0, 56.61},   {"n150", 1024, 2048, 2048, "bf16", "HiFi2", 0, 60.49},
    {"n150", 2048, 2048, 2048, "bf16", "HiFi2", 0, 66.74},   {"n150", 2048, 2048, 3072, "bf16", "HiFi2", 0, 70.07},
    {"n150", 2048, 3072, 3072, "bf16", "HiFi2", 0, 71.30},   {"n150", 3072, 3072, 3072, "bf16", "HiFi2", 0, 58.19},
    {"n150", 3072, 3072, 4096, "bf16", "HiFi2", 0, 60.97},   {"n150", 3072, 4096, 4096, "bf16", "HiFi2", 0, 59.41},
    {"n150", 4096, 4096, 4096, "bf16", "HiFi2", 0, 59.46},
    {"n150", 512, 512, 512, "bfp8_b", "LoFi", 0, 11.28},     {"n150", 512, 1024, 1024, "bfp8_b", "LoFi", 0, 7.03},
    {"n150", 512, 1024, 2048, "bfp8_b", "LoFi", 0, 13.13},   {"n150", 1024, 1024, 1024, "bfp8_b", "LoFi", 0, 33.54},
    {"n150", 1024, 1024, 2048, "bfp8_b", "LoFi", 0, 45.07},  {"n150", 1024, 2048, 2048, "bfp8_b", "LoFi", 0, 52.97},
    {"n150", 2048, 2048, 2048, "bfp8_b", "LoFi", 0, 63.73},  {"n150", 2048, 2048, 3072, "bfp8_b", "LoFi", 0, 67.18},
    {"n150", 2048, 3072, 3072, "bfp8_b", "LoFi", 0, 69.28},  {"n150", 3072, 3072, 3072, "bfp8_b", "LoFi", 0, 69.84},
    {"n150", 3072, 3072, 4096, "bfp8_b", "LoFi", 0, 71.69},  {"n150", 3072, 4096, 4096, "bfp8_b", "LoFi", 0, 62.60},
    {"n150", 4096, 4096, 4096, "bfp8_b", "LoFi", 0, 64.35},
    {"p150", 640, 832, 832, "bf16", "HiFi2", 0, 18.82},      {"p150", 640, 1664, 1664, "bf16", "HiFi2", 0, 41.08},
    {"p150", 640, 1664, 3328, "bf16", "HiFi2", 0, 51.04},    {"p150", 1280, 1664, 1664, "bf16", "HiFi2", 0, 61.85},
    {"p150", 1280, 1664, 3328, "bf16", "HiFi2", 0, 76.75},   {"p150", 1280, 3328, 3328, "bf16", "HiFi2", 0, 81.07},
    {"p150", 2560, 3328, 3328, "bf16", "HiFi2", 0, 85.66},
    {"p150", 640, 832, 832, "bfp8_b", "LoFi", 0, 10.30},     {"p150", 640, 1664, 1664, "bfp8_b", "LoFi", 0, 25.19},
    {"p150", 640, 1664, 3328, "bfp8_b", "LoFi", 0, 33.89},   {"p150", 1280, 1664, 1664, "bfp8_b", "LoFi", 0, 43.72},
    {"p150", 1280, 1664, 3328, "bfp8_b", "LoFi", 0, 61.45},  {"p150", 1280, 3328, 3328, "bfp8_b", "LoFi", 0, 71.22},
    {"p150", 2560, 3328, 3328, "bfp8_b", "LoFi", 0, 81.31},
};

static void test_out_of_box_rows(void)
{
    double lo = 1e9, hi = 0, sum = 0;
    int n = 0;
    printf("\n  out of box (all DRAM, not fitted):\n");
    for (size_t i = 0; i < G_N_ELEMENTS(out_of_box); i++) {
        const calib_row *r = &out_of_box[i];
        double pub = published_seconds(r), sim = simulate(r), ratio = sim / pub;
        printf("  %-5s %6d %6d %6d %-7s %-6s %12.2f %12.2f %7.3f\n", r->board, r->m, r->k, r->n, r->fmt, r->fid,
               pub * 1e6, sim * 1e6, ratio);
        lo = MIN(lo, ratio);
        hi = MAX(hi, ratio);
        sum += fabs(ratio - 1);
        n++;
    }
    printf("  %d rows: ttsim / published from %.3f to %.3f, mean |ratio - 1| %.3f\n", n, lo, hi, sum / n);
    CU_ASSERT(n > 0);
}

/* Decode-shaped matmuls (32 rows of activations, bfp8_b weights in DRAM, the
 * activations and the output in L1) are DRAM-bound: Saturating_DRAM_bandwidth.md
 * reports 239-260 GB/s for Llama3-70 decode and 243-261 GB/s for Mixtral8x7b
 * decode matmuls on Wormhole (DRAM at 12 GBps). Weight shapes: the report's
 * example (1024 x 8192) and the per-chip slices of Llama 3 70B (hidden 8192,
 * FFN 28672, 8-way tensor parallel: 8192 x 1280 QKV, 1024 x 8192 output,
 * 8192 x 3584 FF1/FF3, 3584 x 8192 FF2) and Mixtral 8x7B (one expert per
 * chip: 4096 x 14336, 14336 x 4096). */
static void test_decode_bandwidth(void)
{
    static const int shapes[][2] = {{1024, 8192}, {8192, 1280}, {8192, 3584}, {3584, 8192},
                                    {4096, 14336}, {14336, 4096}};
    printf("\n  decode matmuls on wormhole_b0 (bfp8_b weights): achieved DRAM bandwidth\n");
    for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
        calib_row r = {"n150", 32, shapes[i][0], shapes[i][1], "bfp8_b", "HiFi2", 1, 0};
        double sim = simulate(&r);
        double bytes = (double)(shapes[i][0] / 32) * (shapes[i][1] / 32) * 1088.0;
        double gbs = bytes / sim / 1e9;
        printf("  32 x %5d x %5d: %.1f us, %.1f GB/s (published 239-261 GB/s in model decode)\n", shapes[i][0],
               shapes[i][1], sim * 1e6, gbs);
        CU_ASSERT(gbs >= 239 * 0.85 && gbs <= 261 * 1.15);
    }
}

int main(int argc, char **argv)
{
    nightly = argc > 1 && strcmp(argv[1], "--nightly") == 0;
    gboolean oob_only = argc > 1 && strcmp(argv[1], "--out-of-box") == 0;
    if (nightly && !g_getenv("TTML_NIGHTLY")) {
        printf("rows above 4096: set TTML_NIGHTLY=1 to run them (skipped)\n");
        return 77;
    }
    CU_TestInfo tests[] = {
        {"matmul rows of GEMM_FLOPS.md within 15%", test_published_rows},
        {"decode matmuls: achieved DRAM bandwidth", test_decode_bandwidth},
        CU_TEST_INFO_NULL,
        CU_TEST_INFO_NULL,
    };
    /* the nightly run adds the out-of-box rows (a comparison, not a bound) */
    if (nightly) tests[2] = (CU_TestInfo){"out-of-box rows (not fitted): ratios", test_out_of_box_rows};
    if (oob_only) tests[0] = (CU_TestInfo){"out-of-box rows (not fitted): ratios", test_out_of_box_rows};
    return ttml_test_run("ttsim calibration", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
