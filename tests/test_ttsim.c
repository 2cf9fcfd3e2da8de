/* tests/test_ttsim.c - the ttsim driver: tile layout, storage numerics, math
 * fidelity, memory budgets and out-of-memory errors, option parsing, the
 * timing model on hand-computed cases, and kernel-set parity with cpu.
 *
 * The driver's pure parts (layout, numerics, timing, options, accounting)
 * are compiled into this binary and tested directly; the rest goes through
 * the public API on ttsim devices.
 */
#include "test_util.h"

#include "../drivers/ttsim/ttsim_arch.c"
#include "../drivers/ttsim/storage/ttsim_layout.c"
#include "../drivers/ttsim/storage/ttsim_memory.c"
#include "../drivers/ttsim/storage/ttsim_numerics.c"
#include "../drivers/ttsim/timing/ttsim_timing.c"
#include "../drivers/ttsim/timing/ttsim_calib.c"

#include <math.h>

static float bits_to_f(guint32 u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static guint32 f_to_bits(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    return u;
}

static ttml_device *open_dev(const char *spec)
{
    GError *err = NULL;
    ttml_device *d = ttml_device_open(spec, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return d;
}

/* Write 16 values to a device opened with `spec`, read them back: they must be `want`. */
static void check_stored16(const char *spec, const float in[16], const float want[16])
{
    ttml_device *d = open_dev(spec);
    int64_t sh[1] = {16};
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_floats(d, 1, sh, in, &err);
    TTML_ASSERT_NO_ERROR(err);
    float y[16];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, y, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(memcmp(y, want, sizeof y), 0);
    ttml_tensor_unref(t);
}

/* ---- layout ---- */

static void test_tile_order(void)
{
    /* a 32x32 matrix with value r * 32 + c: face f, row r, column c of the
     * tile sits at f * 256 + r * 16 + c (faces row-major) */
    float m[1024], tiles[1024];
    for (int i = 0; i < 1024; i++) m[i] = (float)i;
    ttsim_shape s = {1, 32, 32};
    ttsim_tilize(m, &s, TTSIM_FMT_FP32, tiles);
    CU_ASSERT_EQUAL(tiles[0], 0.0f);
    CU_ASSERT_EQUAL(tiles[15], 15.0f);
    CU_ASSERT_EQUAL(tiles[16], 32.0f);          /* face 0 row 1 = matrix row 1 */
    CU_ASSERT_EQUAL(tiles[256], 16.0f);         /* face 1 starts at column 16 */
    CU_ASSERT_EQUAL(tiles[512], 16.0f * 32);    /* face 2 starts at row 16    */
    CU_ASSERT_EQUAL(tiles[768], 16.0f * 32 + 16);
    CU_ASSERT_EQUAL(tiles[1023], 1023.0f);

    /* a 2x40 matrix: two tiles, padding zero; tile 1 holds columns 32..39 */
    float r[80], t2[2048];
    for (int i = 0; i < 80; i++) r[i] = (float)(i + 1);
    ttsim_shape s2 = {1, 2, 40};
    CU_ASSERT_EQUAL(ttsim_shape_tiles(&s2), 2);
    CU_ASSERT_EQUAL(ttsim_shape_bytes(&s2, TTSIM_FMT_BF16), 4096u);
    CU_ASSERT_EQUAL(ttsim_shape_bytes(&s2, TTSIM_FMT_BFP8B), 2176u);
    ttsim_tilize(r, &s2, TTSIM_FMT_FP32, t2);
    CU_ASSERT_EQUAL(t2[16], 41.0f);             /* row 1, col 0               */
    CU_ASSERT_EQUAL(t2[32], 0.0f);              /* row 2: padding             */
    CU_ASSERT_EQUAL(t2[1024], 33.0f);           /* tile 1: row 0, col 32      */
    CU_ASSERT_EQUAL(t2[1024 + 8], 0.0f);        /* col 40: padding            */
    CU_ASSERT_EQUAL(t2[1024 + 16 + 7], 80.0f);  /* row 1, col 39              */
}

static void test_tile_round_trip(void)
{
    const int64_t shapes[][4] = {
        {1, 1, 1, 1}, {1, 1, 31, 33}, {1, 1, 32, 32}, {1, 1, 33, 65}, {1, 3, 31, 33}, {2, 3, 5, 7},
        {1, 1, 1, 100}, {1, 1, 100, 1}, {2, 1, 64, 96},
    };
    for (size_t k = 0; k < G_N_ELEMENTS(shapes); k++) {
        ttsim_shape s = {shapes[k][0] * shapes[k][1], shapes[k][2], shapes[k][3]};
        size_t n = (size_t)(s.batch * s.rows * s.cols);
        float *x = g_new(float, n), *y = g_new(float, n);
        for (size_t i = 0; i < n; i++) x[i] = sinf((float)i * 0.37f) * 1000.0f + (float)i * 1e-3f;
        void *tiles = g_malloc(ttsim_shape_bytes(&s, TTSIM_FMT_FP32));
        ttsim_tilize(x, &s, TTSIM_FMT_FP32, tiles);
        memset(y, 0xff, n * 4);
        ttsim_untilize(tiles, &s, TTSIM_FMT_FP32, y);
        CU_ASSERT_EQUAL(memcmp(x, y, n * 4), 0);
        /* the padding is zero: the sum of the tile image equals the data's */
        const float *t = tiles;
        double st = 0, sx = 0;
        for (gint64 i = 0; i < ttsim_shape_tiles(&s) * 1024; i++) st += t[i];
        for (size_t i = 0; i < n; i++) sx += x[i];
        CU_ASSERT_DOUBLE_EQUAL(st, sx, 1e-6 * (fabs(sx) + 1));
        g_free(tiles);
        g_free(x);
        g_free(y);
    }

    /* and through the device (write tilizes, read untilizes), fp32 storage:
     * exact for every padding case, 1-D to 4-D */
    ttml_device *d = open_dev("ttsim:wormhole_b0,storage=fp32,report=off");
    const int64_t dshapes[][4] = {{1, 0, 0, 0}, {31, 33, 0, 0}, {32, 32, 0, 0}, {33, 65, 0, 0},
                                  {3, 31, 33, 0}, {2, 3, 5, 7}, {70, 0, 0, 0}};
    const int ndims[] = {1, 2, 2, 2, 3, 4, 1};
    for (size_t k = 0; k < G_N_ELEMENTS(dshapes); k++) {
        size_t n = 1;
        for (int i = 0; i < ndims[k]; i++) n *= (size_t)dshapes[k][i];
        float *x = g_new(float, n), *y = g_new(float, n);
        for (size_t i = 0; i < n; i++) x[i] = cosf((float)i) * 3.14159f + 1e-7f * (float)i;
        GError *err = NULL;
        ttml_tensor *t = ttml_tensor_from_floats(d, ndims[k], dshapes[k], x, &err);
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_TRUE(ttml_tensor_to_floats(t, y, &err));
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_EQUAL(memcmp(x, y, n * 4), 0);
        /* read back through a reshaped view: the logical order is kept */
        int64_t flat[1] = {(int64_t)n};
        ttml_tensor *v = ttml_tensor_view_as(t, 1, flat, &err);
        TTML_ASSERT_NO_ERROR(err);
        memset(y, 0, n * 4);
        CU_ASSERT_TRUE(ttml_tensor_to_floats(v, y, &err));
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_EQUAL(memcmp(x, y, n * 4), 0);
        ttml_tensor_unref(v);
        ttml_tensor_unref(t);
        g_free(x);
        g_free(y);
    }
    /* u32 ids are stored exactly */
    guint32 ids[5] = {0, 1, 4000000000u, 95, 7};
    int64_t s5[1] = {5};
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_data(d, 1, s5, TTML_DTYPE_U32, ids, &err);
    TTML_ASSERT_NO_ERROR(err);
    guint32 back[5] = {0};
    CU_ASSERT_TRUE(ttml_tensor_read(t, back, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(memcmp(ids, back, sizeof ids), 0);
    ttml_tensor_unref(t);
}

/* ---- numerics ---- */

static void test_bf16_rounding(void)
{
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0) */
    CU_ASSERT_EQUAL(ttsim_bf16_enc(bits_to_f(0x3F808000u)), 0x3F80);
    /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up */
    CU_ASSERT_EQUAL(ttsim_bf16_enc(bits_to_f(0x3F818000u)), 0x3F82);
    /* just above the half: up; just below: down */
    CU_ASSERT_EQUAL(ttsim_bf16_enc(bits_to_f(0x3F808001u)), 0x3F81);
    CU_ASSERT_EQUAL(ttsim_bf16_enc(bits_to_f(0x3F807FFFu)), 0x3F80);
    CU_ASSERT_EQUAL(ttsim_bf16_enc(-1.0f), 0xBF80);
    CU_ASSERT_TRUE(isnan(ttsim_bf16_dec(ttsim_bf16_enc(NAN))));
    CU_ASSERT_EQUAL(ttsim_bf16_dec(ttsim_bf16_enc(INFINITY)), INFINITY);
    /* the inline tile-loop conversion is the core's ttml_f32_to_bf16, bit for
     * bit, over a sweep of every exponent with many mantissas, NaNs included */
    int differ = 0;
    for (guint64 u = 0; u <= 0xffffffffu; u += 65521u) {
        float f = bits_to_f((guint32)u);
        differ += ttsim_bf16_enc(f) != ttml_f32_to_bf16(f);
        differ += ttsim_bf16_enc(-f) != ttml_f32_to_bf16(-f);
    }
    CU_ASSERT_EQUAL(differ, 0);

    /* in place, row-major: the same results */
    float v[4] = {bits_to_f(0x3F808000u), bits_to_f(0x3F818000u), 3.0f, -bits_to_f(0x3F808001u)};
    ttsim_shape s = {1, 1, 4};
    ttsim_round_storage(v, &s, TTSIM_FMT_BF16);
    CU_ASSERT_EQUAL(f_to_bits(v[0]), 0x3F800000u);
    CU_ASSERT_EQUAL(f_to_bits(v[1]), 0x3F820000u);
    CU_ASSERT_EQUAL(v[2], 3.0f);
    CU_ASSERT_EQUAL(f_to_bits(v[3]), 0xBF810000u);

    /* the fused round + tilize gives the same image and values as the two
     * steps, with padding (33 x 45) */
    ttsim_shape sp = {2, 33, 45};
    size_t np = 2 * 33 * 45;
    float *a = g_new(float, np), *b = g_new(float, np);
    for (size_t i = 0; i < np; i++) a[i] = b[i] = sinf((float)i) * 7.3f + (i == 5 ? NAN : 0.0f);
    size_t nb = ttsim_shape_bytes(&sp, TTSIM_FMT_BF16);
    guint8 *ia = g_malloc(nb), *ib = g_malloc(nb);
    memset(ia, 0x55, nb);
    ttsim_round_and_tilize(a, &sp, TTSIM_FMT_BF16, ia);
    ttsim_round_storage(b, &sp, TTSIM_FMT_BF16);
    ttsim_tilize(b, &sp, TTSIM_FMT_BF16, ib);
    CU_ASSERT_EQUAL(memcmp(ia, ib, nb), 0);
    CU_ASSERT_EQUAL(memcmp(a, b, np * 4), 0);
    g_free(a);
    g_free(b);
    g_free(ia);
    g_free(ib);

    /* through the default device (bf16 storage): read returns the rounded value */
    ttml_device *d = open_dev("ttsim:report=off");
    float x[3] = {1.00390625f, 1.01171875f, 0.1f}, y[3];
    int64_t sh[1] = {3};
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_floats(d, 1, sh, x, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, y, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(y[0], 1.0f);
    CU_ASSERT_EQUAL(y[1], 1.015625f);
    CU_ASSERT_EQUAL(f_to_bits(y[2]), 0x3DCD0000u);   /* 0.1 = 0x3DCCCCCD -> 0x3DCD */
    ttml_tensor_unref(t);
}

static void test_bfp8_block(void)
{
    /* largest magnitude 3.0 = 1.5 * 2^1: shared exponent 128, scale 2^(133-128) = 32 */
    float in[16] = {1.0f, 0.5f, 0.25f, 3.0f, -1.5f, 0.0078125f, 0.0f, 0.046875f,
                    0.078125f, -0.109375f, 2.984375f, 3.0f, 0.0f, 0.0f, 0.0f, 0.03125f};
    guint8 e, m[16];
    ttsim_bfp8_encode_block(in, &e, m);
    CU_ASSERT_EQUAL(e, 128);
    /* |x| * 32 rounded to nearest even: 32, 16, 8, 96, 48 (negative), 0.25 -> 0,
     * 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4 (negative), 95.5 -> 96, 96, 0, 0, 0, 1 */
    const guint8 want[16] = {32, 16, 8, 96, 0x80 | 48, 0, 0, 2, 2, 0x80 | 4, 96, 96, 0, 0, 0, 1};
    CU_ASSERT_EQUAL(memcmp(m, want, 16), 0);
    float out[16];
    ttsim_bfp8_decode_block(e, m, out);
    CU_ASSERT_EQUAL(out[0], 1.0f);
    CU_ASSERT_EQUAL(out[4], -1.5f);
    CU_ASSERT_EQUAL(out[5], 0.0f);
    CU_ASSERT_EQUAL(out[7], 0.0625f);
    CU_ASSERT_EQUAL(out[9], -0.125f);
    CU_ASSERT_EQUAL(out[10], 3.0f);

    /* a magnitude that rounds past 127 saturates at 127 / 64 of the top power */
    float big[16] = {1.999f};
    ttsim_bfp8_encode_block(big, &e, m);
    CU_ASSERT_EQUAL(e, 127);
    CU_ASSERT_EQUAL(m[0], 127);

    /* in the tile image, each face row is one block: exponents first */
    float mat[1024] = {0};
    mat[0] = 3.0f;        /* row 0, face 0          */
    mat[16] = 0.5f;       /* row 0, face 1          */
    mat[17 * 32] = -2.0f; /* row 17, face 2, row 1  */
    ttsim_shape s = {1, 32, 32};
    guint8 img[1088];
    ttsim_tilize(mat, &s, TTSIM_FMT_BFP8B, img);
    CU_ASSERT_EQUAL(img[0], 128);              /* block 0: face 0 row 0: 3.0 */
    CU_ASSERT_EQUAL(img[16], 126);             /* block 16: face 1 row 0: 0.5 */
    CU_ASSERT_EQUAL(img[33], 128);             /* block 33: face 2 row 1: -2.0 */
    CU_ASSERT_EQUAL(img[64 + 33 * 16], 0x80 | 64);
    float back[1024];
    ttsim_untilize(img, &s, TTSIM_FMT_BFP8B, back);
    CU_ASSERT_EQUAL(memcmp(mat, back, sizeof mat), 0);

    /* through a device with bfp8_b storage */
    ttsim_bfp8_decode_block(128, want, out);
    check_stored16("ttsim:blackhole,storage=bfp8_b,report=off", in, out);
}

/* Bfp4_b, hand-computed: tt-metal's layout (tt_metal/impl/data_format/
 * blockfloat_common.cpp): per block the largest exponent, per value a sign
 * and a 3-bit magnitude rounded to nearest even and saturated at 7, no
 * negative zero, value 2j in the low nibble of byte j; a tile is 64
 * exponent bytes + 512 data bytes. */
static void test_bfp4_block(void)
{
    /* largest magnitude 3.75 = 1.875 * 2^1: shared exponent 128, scale 2^(129-128) = 2 */
    float in[16] = {1.0f, 0.5f, 0.25f, 3.0f, -1.5f, 1.25f, 1.75f, 0.75f,
                    -0.25f, 2.75f, 3.75f, 0.0f, -0.0f, 0.3f, -2.25f, 1.0f / 1024};
    guint8 e, nib[8];
    ttsim_bfp4_encode_block(in, &e, nib);
    CU_ASSERT_EQUAL(e, 128);
    /* |x| * 2: 2, 1, 0.5 -> 0 (tie to even), 6, 3 (negative: 0xB), 2.5 -> 2, 3.5 -> 4,
     * 1.5 -> 2, 0.5 -> 0 (sign dropped), 5.5 -> 6, 7.5 -> 8 saturated to 7, 0, 0 (no
     * negative zero), 0.6 -> 1, 4.5 -> 4 (negative: 0xC), 0; two nibbles per byte, low first */
    const guint8 want[8] = {0x12, 0x60, 0x2B, 0x24, 0x60, 0x07, 0x10, 0x0C};
    CU_ASSERT_EQUAL(memcmp(nib, want, 8), 0);
    float out[16];
    ttsim_bfp4_decode_block(e, nib, out);
    const float back[16] = {1.0f, 0.5f, 0.0f, 3.0f, -1.5f, 1.0f, 2.0f, 1.0f,
                            0.0f, 3.0f, 3.5f, 0.0f, 0.0f, 0.5f, -2.0f, 0.0f};
    CU_ASSERT_EQUAL(memcmp(out, back, sizeof out), 0);
    CU_ASSERT_EQUAL(ttsim_format_tile_bytes(TTSIM_FMT_BFP4B), 576);

    /* in the tile image: 64 exponents (one per face row), then 8 bytes per block */
    float mat[1024] = {0};
    mat[0] = 3.0f;        /* row 0, face 0: block 0          */
    mat[16] = 0.5f;       /* row 0, face 1: block 16         */
    mat[17 * 32] = -2.0f; /* row 17, face 2, row 1: block 33 */
    mat[17 * 32 + 1] = 0.5f;
    ttsim_shape s = {1, 32, 32};
    guint8 img[576];
    ttsim_tilize(mat, &s, TTSIM_FMT_BFP4B, img);
    CU_ASSERT_EQUAL(img[0], 128);
    CU_ASSERT_EQUAL(img[16], 126);
    CU_ASSERT_EQUAL(img[33], 128);
    CU_ASSERT_EQUAL(img[1], 0);                  /* an all-zero block      */
    CU_ASSERT_EQUAL(img[64 + 0 * 8], 0x06);      /* 3.0 * 2 = 6            */
    CU_ASSERT_EQUAL(img[64 + 16 * 8], 0x04);     /* 0.5 * 2^(129-126) = 4  */
    CU_ASSERT_EQUAL(img[64 + 33 * 8], 0x1C);     /* -2.0: 0xC; 0.5: 1      */
    float round_trip[1024];
    ttsim_untilize(img, &s, TTSIM_FMT_BFP4B, round_trip);
    CU_ASSERT_EQUAL(memcmp(mat, round_trip, sizeof mat), 0);

    /* through a device with bfp4_b storage: the stored values */
    check_stored16("ttsim:wormhole_b0,storage=bfp4_b,report=off", in, back);
    /* the budget charges 576 bytes a tile: dram=64K is 5461 bytes per bank, 9 tiles;
     * 64 tiles (6 per bank) fit where bf16's 2048-byte tiles did not (test_oom), 120
     * (10 per bank) do not */
    ttml_device *d = open_dev("ttsim:wormhole_b0,storage=bfp4_b,dram=64K,report=off");
    GError *err = NULL;
    int64_t fits[2] = {64, 1024}, too_big[2] = {32, 3840};
    ttml_tensor *t = ttml_tensor_empty(d, 2, fits, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(t);
    t = ttml_tensor_empty(d, 2, too_big, TTML_DTYPE_F32, &err);
    CU_ASSERT_PTR_NULL(t);
    /* 120 pages x 576 bytes = 69120 bytes = 67.5 KiB */
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "DRAM: needs 67.500 KiB, 0.000 KiB of 63.996 KiB in use;");
}

static void test_fidelity(void)
{
    int a, b;
    ttsim_fidelity_bits(TTSIM_LOFI, &a, &b);
    CU_ASSERT_EQUAL(a, 4);
    CU_ASSERT_EQUAL(b, 6);
    ttsim_fidelity_bits(TTSIM_HIFI2, &a, &b);
    CU_ASSERT_EQUAL(a, 7);
    CU_ASSERT_EQUAL(b, 6);
    ttsim_fidelity_bits(TTSIM_HIFI4, &a, &b);
    CU_ASSERT_EQUAL(a, 10);
    /* 1 + 31/32 keeps 4 mantissa bits: 1 + 15/16 (truncated, not rounded) */
    CU_ASSERT_EQUAL(ttsim_truncate_mantissa(1.96875f, 4), 1.9375f);
    CU_ASSERT_EQUAL(ttsim_truncate_mantissa(-1.96875f, 4), -1.9375f);
    CU_ASSERT_EQUAL(ttsim_truncate_mantissa(1.96875f, 23), 1.96875f);

    /* a 1x2 @ 2x1 matmul on fp32 storage: LoFi truncates a to 4 and b to 6
     * mantissa bits; HiFi4 to 10 and 10 */
    const float av[2] = {1.96875f, 1.0f + 1.0f / 4096}, bv[2] = {1.0f + 1.0f / 128, 1.0f};
    const char *specs[] = {"ttsim:wormhole_b0,storage=fp32,fidelity=LoFi,report=off",
                           "ttsim:wormhole_b0,storage=fp32,fidelity=HiFi4,report=off"};
    /* LoFi: 1.9375 * 1 + 1 * 1 (2^-12 lost; 2^-7 lost in b's 6 bits) */
    const float want[2] = {1.9375f + 1.0f, 1.96875f * (1.0f + 1.0f / 128) + 1.0f};
    for (int k = 0; k < 2; k++) {
        ttml_device *d = open_dev(specs[k]);
        GError *err = NULL;
        int64_t sa[2] = {1, 2}, sb[2] = {2, 1}, so[2] = {1, 1};
        ttml_tensor *ta = ttml_tensor_from_floats(d, 2, sa, av, &err);
        ttml_tensor *tb = ttml_tensor_from_floats(d, 2, sb, bv, &err);
        ttml_tensor *to = ttml_tensor_zeros(d, 2, so, TTML_DTYPE_F32, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_matmul_params p = {0, 0, 1.0f, 0.0f};
        ttml_launch l = {.kernel = "matmul", .n_in = 2, .n_out = 1, .params = &p, .params_size = sizeof p};
        l.in[0] = ttml_tensor_view(ta);
        l.in[1] = ttml_tensor_view(tb);
        l.out[0] = ttml_tensor_view(to);
        CU_ASSERT_TRUE(ttml_kernel_launch(d, &l, &err));
        TTML_ASSERT_NO_ERROR(err);
        float r = ttml_tensor_item(to, &err);
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_EQUAL(r, want[k]);
        /* the inputs themselves are not changed by the operand rounding */
        float back[2];
        CU_ASSERT_TRUE(ttml_tensor_to_floats(ta, back, &err));
        CU_ASSERT_EQUAL(back[0], av[0]);
        CU_ASSERT_EQUAL(back[1], av[1]);
        ttml_tensor_unref(ta);
        ttml_tensor_unref(tb);
        ttml_tensor_unref(to);
    }
}

/* ---- memory ---- */

static void test_oom(void)
{
    /* dram=64K over 12 banks: 5461 bytes per bank = 2 bf16 tiles of 2048 */
    ttml_device *d = open_dev("ttsim:wormhole_b0,dram=64K,report=off");
    GError *err = NULL;
    int64_t big[2] = {64, 1024};   /* 64 tiles: 6 per bank = 12288 bytes */
    ttml_tensor *t = ttml_tensor_empty(d, 2, big, TTML_DTYPE_F32, &err);
    CU_ASSERT_PTR_NULL(t);
    /* one line, every figure in KiB (the capacity is under 1 MiB): 64 tiles of
     * 2048 bytes = 128 KiB against 12 x 5461 bytes = 63.996 KiB */
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM,
                      "device ttsim:wormhole_b0,dram=64K,report=off, tensor f32 [64, 1024]: out of wormhole_b0 "
                      "DRAM: needs 128.000 KiB, 0.000 KiB of 63.996 KiB in use; use a smaller batch or model, "
                      "storage=bfp8_b");
    CU_ASSERT_PTR_NULL(strchr(err ? err->message : "", '\n'));

    /* [32, 384]: 12 tiles, one per bank (a [1, 12288] row would pad to 384) */
    int64_t s12[2] = {32, 384};
    ttml_tensor *a = ttml_tensor_zeros(d, 2, s12, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    /* 416 values as [32, 13]: one tile, fits */
    int64_t row[2] = {32, 13}, col[2] = {416, 1};
    ttml_tensor *r = ttml_tensor_zeros(d, 2, row, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(r);
    /* the same 416 values as [416, 1] pad to 13 tiles: bank 0 would hold
     * 1 + 2 pages. The allocation itself fails (ABI 1.1: alloc() sees the
     * shape), before anything is written */
    r = ttml_tensor_empty(d, 2, col, TTML_DTYPE_F32, &err);
    CU_ASSERT_PTR_NULL(r);
    /* 26 + 24 KiB would fit the total: the message names the full bank */
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "needs 26.000 KiB, 24.000 KiB of 63.996 KiB in use (bank 0 is full: "
                                           "2.000 of 5.333 KiB; each bank holds 1/12 of every tensor)");
    r = ttml_tensor_zeros(d, 2, col, TTML_DTYPE_F32, &err);
    CU_ASSERT_PTR_NULL(r);
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "needs 26.000 KiB, 24.000 KiB of 63.996 KiB in use (bank 0 is full");
    /* the failed request left nothing charged: 12 more pages fit */
    ttml_tensor *b = ttml_tensor_zeros(d, 2, s12, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *c = ttml_tensor_zeros(d, 2, s12, TTML_DTYPE_F32, &err);
    CU_ASSERT_PTR_NULL(c);
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "needs 24.000 KiB, 48.000 KiB of 63.996 KiB in use;");
    ttml_tensor_unref(a);
    ttml_tensor_unref(b);
    /* freed: fits again */
    c = ttml_tensor_zeros(d, 2, s12, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(c);

    /* L1: l1=4K per core, 64 cores: 130 pages put 3 on core 0 */
    ttml_device *l1 = open_dev("ttsim:wormhole_b0,l1=4K,report=off");
    ttml_buffer *buf = ttml_buffer_new(l1, 130 * 1024 * 4, TTML_MEM_L1, &err);
    CU_ASSERT_PTR_NULL(buf);
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "a 532480-byte buffer: out of wormhole_b0 L1: needs 260.000 KiB, "
                                           "0.000 KiB of 256.000 KiB in use; use a smaller batch or model, "
                                           "storage=bfp8_b (half of bf16), a larger l1= option");
    buf = ttml_buffer_new(l1, 128 * 1024 * 4, TTML_MEM_L1, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_buffer_unref(buf);

    /* fp32 storage doubles the pages' size: 64 pages of 4096 = 8192 per bank
     * on a 12 x 8192 budget: 6 pages on bank 0 do not fit, 24 do */
    ttml_device *f = open_dev("ttsim:wormhole_b0,dram=96K,storage=fp32,report=off");
    int64_t s24[2] = {32, 24 * 32};
    ttml_tensor *t24 = ttml_tensor_zeros(f, 2, s24, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *t25 = ttml_tensor_zeros(f, 2, s24, TTML_DTYPE_F32, &err);
    CU_ASSERT_PTR_NULL(t25);
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "needs 96.000 KiB, 96.000 KiB of 96.000 KiB in use;");
    ttml_tensor_unref(t24);
}

/* ---- options and architectures ---- */

static void test_options(void)
{
    GError *err = NULL;
    CU_ASSERT_PTR_NULL(ttml_device_open("ttsim:grayskull", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "unknown architecture 'grayskull'");
    CU_ASSERT_PTR_NULL(ttml_device_open("ttsim:grayskull", &err));
    CU_ASSERT_PTR_NOT_NULL(err);
    if (err) {
        CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "wormhole_b0"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "n300"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "blackhole"));
        g_clear_error(&err);
    }
    CU_ASSERT_PTR_NULL(ttml_device_open("ttsim:wormhole_b0,dram=lots", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "bad value 'lots' for 'dram'");
    CU_ASSERT_PTR_NULL(ttml_device_open("ttsim:wormhole_b0,fidelity=HiFi5", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "bad value 'HiFi5' for 'fidelity'");
    CU_ASSERT_PTR_NULL(ttml_device_open("ttsim:storage=fp16", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "bad value 'fp16' for 'storage'");
    CU_ASSERT_PTR_NULL(ttml_device_open("ttsim:wormhole_b0,colour=red", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "unknown option 'colour'");

    guint64 v = 0;
    CU_ASSERT_TRUE(ttsim_parse_size("64M", &v));
    CU_ASSERT_EQUAL(v, 64ull << 20);
    CU_ASSERT_TRUE(ttsim_parse_size("256K", &v));
    CU_ASSERT_EQUAL(v, 256ull << 10);
    CU_ASSERT_TRUE(ttsim_parse_size("12GiB", &v));
    CU_ASSERT_EQUAL(v, 12ull << 30);
    CU_ASSERT_FALSE(ttsim_parse_size("0", &v));
    CU_ASSERT_FALSE(ttsim_parse_size("5X", &v));

    ttml_device *d = open_dev("ttsim");
    const ttml_device_info *i = ttml_device_get_info(d);
    CU_ASSERT_STRING_EQUAL(i->name, "ttsim:wormhole_b0");
    CU_ASSERT_EQUAL(i->n_cores, 64);
    CU_ASSERT_EQUAL(i->mem_bytes[TTML_MEM_DRAM], 12ull << 30);
    CU_ASSERT_EQUAL(i->mem_bytes[TTML_MEM_L1], 64ull * 1464 * 1024);
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "288 GB/s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "12 banks"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "HiFi4"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "storage bf16"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "ttsim timing model " TTSIM_TIMING_VERSION ", calibrated to tt-metal GEMM_FLOPS.md"));

    d = open_dev("ttsim:blackhole,report=off");
    i = ttml_device_get_info(d);
    CU_ASSERT_EQUAL(i->n_cores, 130);
    CU_ASSERT_EQUAL(i->mem_bytes[TTML_MEM_DRAM], 32ull << 30);
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "512 GB/s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "1.35 GHz"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "8 banks"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "(docs/ttsim.md)"));   /* not cut off */

    d = open_dev("ttsim:n300,dram=64M,l1=256K,report=off");
    i = ttml_device_get_info(d);
    CU_ASSERT_EQUAL(i->n_cores, 128);
    CU_ASSERT_EQUAL(i->mem_bytes[TTML_MEM_DRAM], 64ull << 20);
    CU_ASSERT_EQUAL(i->mem_bytes[TTML_MEM_L1], 128ull * 256 * 1024);
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "576 GB/s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(i->description, "(docs/ttsim.md)"));
}

/* ---- timing model ---- */

static void test_timing(void)
{
    ttsim_config c;
    CU_ASSERT_TRUE(ttsim_config_parse("wormhole_b0", &c, NULL));
    CU_ASSERT_EQUAL(c.fidelity, TTSIM_HIFI4);
    /* peak: 64 cores x 2048 MAC x 2 x 1 GHz = 262.144 TFLOP/s at LoFi (the
     * n150's 262 TFLOPS FP8 figure), a quarter at HiFi4 */
    CU_ASSERT_DOUBLE_EQUAL(ttsim_peak_flops(&c), 65.536e12, 1e6);

    /* timing model 2 (docs/ttsim.md): cycles = L + max(compute, DRAM, per core).
     * wormhole_b0, bf16, HiFi4: L 4100, c 72.68 cycles per tile product, in1
     * panel r 12 B/cycle; DRAM 267 GB/s; per core 22 B/cycle read, 21 write.
     * 64x64x64 on one core: 4 tiles x Kt 2 = 8 tile products = 581.4 cycles;
     * its in1 panel (pm 1 row of the 8-row grid, pn = 4 / 1 -> 2 columns x
     * Kt 2 tiles = 8192 B) streams in 682.7; DRAM reads 8 x 2048 B on one
     * core: 744.7 (the bound); tt-metal's ideal: 4 x 2 x 16 x 4 = 512 */
    ttsim_config one = c;
    one.n_cores = 1;
    ttsim_timing t;
    ttsim_traffic tr = {8 * 2048, 4 * 2048, 0, 0};
    ttsim_timing_matmul(&one, 1, 64, 64, 64, &tr, &t);
    /* L 4100 holds one DRAM round trip of 146 cycles (NoC hop latencies) */
    CU_ASSERT_DOUBLE_EQUAL(t.fixed_cycles + t.latency_cycles, 4100.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.latency_cycles, 146.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 8192.0 / 12.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.dram_cycles, 24576.0 / 267.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.noc_cycles, 16384.0 / 22.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.cycles, 4100.0 + 16384.0 / 22.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.ideal_cycles, 512.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.seconds, (4100.0 + 16384.0 / 22.0) * 1e-9, 1e-18);
    CU_ASSERT_DOUBLE_EQUAL(t.flops, 2.0 * 64 * 64 * 64, 0);
    /* LoFi (bf16: no published rows, derived): L 6100, c 34.69, r 14 */
    one.fidelity = TTSIM_LOFI;
    ttsim_timing_matmul(&one, 1, 64, 64, 64, &tr, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 8192.0 / 14.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.cycles, 6100.0 + 16384.0 / 22.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.ideal_cycles, 128.0, 1e-9);

    /* the full grid: 4 tiles on 4 cores, 1 x Kt 2 tile products each; the in1
     * panel is 1 x 2 tiles = 4096 B: 341.3 cycles; per core 4096 B read: 186.2 */
    ttsim_timing_matmul(&c, 1, 64, 64, 64, &tr, &t);
    CU_ASSERT_EQUAL(t.cores_used, 4);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 4096.0 / 12.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.noc_cycles, 4096.0 / 22.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.seconds, (4100.0 + 4096.0 / 12.0) * 1e-9, 1e-18);
    CU_ASSERT_DOUBLE_EQUAL(t.ideal_cycles, 8.0, 1e-9);
    /* 65 output tiles on 64 cores: the busiest core does 2 x Kt 1 (no
     * DRAM bytes given: the launch pays L less the DRAM latency) */
    ttsim_traffic none = {0, 0, 0, 0};
    ttsim_timing_matmul(&c, 65, 32, 32, 32, &none, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 2048.0 / 12.0, 1e-9);
    /* compute-bound: 1024^3 bf16 HiFi4: 1024 tiles, 16 per core x Kt 32 =
     * 512 tile products x 72.68 = 37212.2 cycles (the published row: 42462);
     * with no DRAM operands the DRAM round trip (146) is not paid */
    ttsim_timing_matmul(&c, 1, 1024, 1024, 1024, &none, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 512 * 72.68, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(t.cycles, 4100 - 146 + 512 * 72.68, 1e-6);   /* no DRAM touched */
    CU_ASSERT_DOUBLE_EQUAL(t.ideal_cycles, 32768.0, 1e-9);

}

static void test_timing_eltwise(void)
{
    ttsim_config c;
    CU_ASSERT_TRUE(ttsim_config_parse("wormhole_b0", &c, NULL));
    ttsim_timing t;
    ttsim_traffic tr = {8 * 2048, 4 * 2048, 0, 0};
    ttsim_traffic none = {0, 0, 0, 0};
    /* element-wise add of 4 tiles: 1 tile per core at 8 cycles; per core 2
     * tiles read (186.2 cycles at 22 B/cycle); the fixed cost of a non-matmul
     * launch is 4100 */
    ttsim_timing_eltwise(&c, 4, 1.0, 0.0, 4096, &tr, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 8.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.noc_cycles, 4096.0 / 22.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.cycles, 4100.0 + 4096.0 / 22.0, 1e-9);
    /* an element-wise multiply takes one pass per fidelity phase: 4 x 8 at
     * HiFi4, 8 at LoFi */
    ttsim_timing_eltwise(&c, 4, 1.0, 1.0, 4096, &none, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 32.0, 1e-9);
    ttsim_config lofi = c;
    lofi.fidelity = TTSIM_LOFI;
    ttsim_timing_eltwise(&lofi, 4, 1.0, 1.0, 4096, &none, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 8.0, 1e-9);
    /* L1-resident operands move core to core (29 B/cycle), not over DRAM */
    ttsim_traffic l1 = {0, 0, 8 * 2048, 4 * 2048};
    ttsim_timing_eltwise(&c, 4, 1.0, 0.0, 4096, &l1, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.dram_cycles, 0.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.noc_cycles, 4096.0 / 29.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.cycles, 4100.0 - 146.0 + 4096.0 / 29.0, 1e-9);

    /* a DRAM-bound copy: 6400 tiles in and out (13.1 MB each way) over the
     * achieved 267 GB/s = 98181.6 cycles; per core 100 tiles x 2048 / 21 (write) */
    ttsim_traffic big = {6400.0 * 2048, 6400.0 * 2048, 0, 0};
    ttsim_timing_eltwise(&c, 6400, 0.0, 0.0, 0, &big, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.compute_cycles, 0.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.noc_cycles, 100 * 2048.0 / 21.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(t.dram_cycles, 2 * 6400.0 * 2048 / 267.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(t.seconds, 4100e-9 + 2 * 6400.0 * 2048 / 267e9, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(t.ideal_seconds, 2 * 6400.0 * 2048 / 288e9, 1e-15);

    /* blackhole: 1.35 GHz, 512 GB/s x 267 / 288 achieved, 130 cores, fixed 8700 */
    ttsim_config bh;
    CU_ASSERT_TRUE(ttsim_config_parse("blackhole,fidelity=HiFi2", &bh, NULL));
    CU_ASSERT_DOUBLE_EQUAL(ttsim_peak_flops(&bh), 130 * 4096.0 * 1.35e9 / 2, 1e6);
    ttsim_timing_eltwise(&bh, 6400, 0.0, 0.0, 0, &big, &t);
    CU_ASSERT_DOUBLE_EQUAL(t.seconds, 8700 / 1.35e9 + 2 * 6400.0 * 2048 / (512e9 * 267.0 / 288.0), 1e-15);

}

static void test_timing_device(void)
{
    /* the device's counters: one matmul of 64x64x64 on the default grid */
    ttml_device *d = open_dev("ttsim:wormhole_b0,report=off");
    GError *err = NULL;
    int64_t s[2] = {64, 64};
    ttml_tensor *a = ttml_tensor_full(d, 2, s, TTML_DTYPE_F32, 0.5f, &err);
    ttml_tensor *b = ttml_tensor_full(d, 2, s, TTML_DTYPE_F32, 2.0f, &err);
    ttml_tensor *o = ttml_tensor_empty(d, 2, s, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_device_stats st0, st1;
    CU_ASSERT_TRUE(ttml_device_get_stats(d, &st0));
    ttml_matmul_params p = {0, 0, 1.0f, 0.0f};
    ttml_launch l = {.kernel = "matmul", .n_in = 2, .n_out = 1, .params = &p, .params_size = sizeof p};
    l.in[0] = ttml_tensor_view(a);
    l.in[1] = ttml_tensor_view(b);
    l.out[0] = ttml_tensor_view(o);
    CU_ASSERT_TRUE(ttml_kernel_launch(d, &l, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_device_get_stats(d, &st1));
    CU_ASSERT_EQUAL(st1.launches, st0.launches + 1);
    CU_ASSERT_DOUBLE_EQUAL(st1.sim_last_launch_s, (4100.0 + 4096.0 / 12.0) * 1e-9, 1e-18);
    CU_ASSERT_DOUBLE_EQUAL(st1.sim_time_s - st0.sim_time_s, (4100.0 + 4096.0 / 12.0) * 1e-9, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(st1.sim_flops - st0.sim_flops, 2.0 * 64 * 64 * 64, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(st1.peak_flops, 65.536e12, 1e6);
    float r[4096];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(o, r, &err));
    CU_ASSERT_EQUAL(r[0], 64.0f);
    CU_ASSERT_EQUAL(r[4095], 64.0f);
    ttml_tensor_unref(a);
    ttml_tensor_unref(b);
    ttml_tensor_unref(o);
}

/* ---- kernels ---- */

static void test_kernel_set_matches_cpu(void)
{
    const GPtrArray *f = ttml_registry_features();
    GHashTable *cpu = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTable *sim = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < f->len; i++) {
        const ttml_feature *x = g_ptr_array_index(f, i);
        if (x->kind != TTML_FEATURE_KERNEL) continue;
        if (g_str_has_prefix(x->name, "cpu/")) g_hash_table_add(cpu, x->name + 4);
        if (g_str_has_prefix(x->name, "ttsim/")) g_hash_table_add(sim, x->name + 6);
    }
    CU_ASSERT_TRUE(g_hash_table_size(cpu) > 40);
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, cpu);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (!g_hash_table_contains(sim, k)) {
            fprintf(stderr, "\ncpu kernel '%s' has no ttsim kernel\n", (const char *)k);
            CU_FAIL("cpu kernel missing on ttsim");
        }
    g_hash_table_iter_init(&it, sim);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (!g_hash_table_contains(cpu, k)) {
            fprintf(stderr, "\nttsim kernel '%s' has no cpu kernel\n", (const char *)k);
            CU_FAIL("ttsim kernel without a cpu implementation");
        }
    g_hash_table_unref(cpu);
    g_hash_table_unref(sim);
}

/* Storage rounding of kernel outputs, in-place optimizer state, aliasing. */
static void test_kernel_outputs_rounded(void)
{
    ttml_device *d = open_dev("ttsim:report=off");
    GError *err = NULL;
    int64_t s[1] = {3};
    const float x[3] = {1.0f, 2.0f, 3.0f};
    ttml_tensor *t = ttml_tensor_from_floats(d, 1, s, x, &err);
    TTML_ASSERT_NO_ERROR(err);
    /* affine in place: x * (1 + 2^-8) + 0: 1 + 2^-8 ties to 1.0 in bf16,
     * 2 + 2^-7 ties to 2.0, 3 * (1 + 2^-8) = 3.01171875 rounds to 3.015625 */
    ttml_affine_params p = {1.0f + 1.0f / 256, 0.0f};
    ttml_launch l = {.kernel = "affine", .n_in = 1, .n_out = 1, .params = &p, .params_size = sizeof p};
    l.in[0] = ttml_tensor_view(t);
    l.out[0] = ttml_tensor_view(t);
    CU_ASSERT_TRUE(ttml_kernel_launch(d, &l, &err));
    TTML_ASSERT_NO_ERROR(err);
    float y[3];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, y, &err));
    CU_ASSERT_EQUAL(y[0], 1.0f);
    CU_ASSERT_EQUAL(y[1], 2.0f);
    CU_ASSERT_EQUAL(y[2], 3.015625f);
    /* axpby reads its output: out = 1 * in + 1 * out */
    ttml_tensor *o = ttml_tensor_from_floats(d, 1, s, x, &err);
    ttml_axpby_params ap = {1.0f, 1.0f};
    ttml_launch l2 = {.kernel = "axpby", .n_in = 1, .n_out = 1, .params = &ap, .params_size = sizeof ap};
    l2.in[0] = ttml_tensor_view(t);
    l2.out[0] = ttml_tensor_view(o);
    CU_ASSERT_TRUE(ttml_kernel_launch(d, &l2, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(o, y, &err));
    CU_ASSERT_EQUAL(y[0], 2.0f);
    CU_ASSERT_EQUAL(y[1], 4.0f);
    /* 3.015625 + 3 = 6.015625: halfway between 6 and 6.03125, ties to even 6 */
    CU_ASSERT_EQUAL(y[2], 6.0f);
    ttml_tensor_unref(o);
    ttml_tensor_unref(t);
}

/* A launch the native kernels do not take (copy to bf16) runs on converted
 * data by default and is a clear error with fallback=off. */
static void test_fallback_option(void)
{
    int64_t s[1] = {5};
    const float x[5] = {1.0f, 2.5f, -3.0f, 0.0f, 7.0f};
    for (int strict = 0; strict < 2; strict++) {
        ttml_device *d = open_dev(strict ? "ttsim:report=off,fallback=off" : "ttsim:report=off");
        GError *err = NULL;
        ttml_tensor *t = ttml_tensor_from_floats(d, 1, s, x, &err);
        ttml_tensor *h = ttml_tensor_empty(d, 1, s, TTML_DTYPE_BF16, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_launch l = {.kernel = "copy", .n_in = 1, .n_out = 1};
        l.in[0] = ttml_tensor_view(t);
        l.out[0] = ttml_tensor_view(h);
        gboolean ok = ttml_kernel_launch(d, &l, &err);
        if (strict) {
            CU_ASSERT_FALSE(ok);
            TTML_ASSERT_ERROR(err, TTML_ERROR_UNSUPPORTED, "cannot run natively");
        } else {
            CU_ASSERT_TRUE(ok);
            TTML_ASSERT_NO_ERROR(err);
            guint16 b[5];
            CU_ASSERT_TRUE(ttml_tensor_read(h, b, &err));
            for (int i = 0; i < 5; i++) CU_ASSERT_EQUAL(ttml_bf16_to_f32(b[i]), x[i]);
        }
        ttml_tensor_unref(h);
        ttml_tensor_unref(t);
    }
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"tile order and padding", test_tile_order},
        {"tile round trips (fp32 exact, every padding case)", test_tile_round_trip},
        {"bf16 round to nearest even", test_bf16_rounding},
        {"bfp8_b blocks", test_bfp8_block},
        {"bfp4_b blocks", test_bfp4_block},
        {"math fidelity operand rounding", test_fidelity},
        {"DRAM / L1 budgets and OOM errors", test_oom},
        {"options and architectures", test_options},
        {"timing model hand cases: matmul", test_timing},
        {"timing model hand cases: element-wise, L1, DRAM-bound, blackhole", test_timing_eltwise},
        {"timing model: the device's counters", test_timing_device},
        {"ttsim kernels = cpu kernels", test_kernel_set_matches_cpu},
        {"kernel outputs in storage format", test_kernel_outputs_rounded},
        {"fallback=off: non-native launches are errors", test_fallback_option},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("ttsim", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
