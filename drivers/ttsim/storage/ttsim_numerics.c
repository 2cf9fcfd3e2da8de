/* drivers/ttsim/storage/ttsim_numerics.c - storage formats (Float32, BFloat16,
 * Bfp8_b, Bfp4_b) and math-fidelity operand rounding.
 *
 * BFloat16: the top 16 bits of an f32, rounded to nearest even (NaN kept
 * quiet). Bfp8_b (Tenstorrent's block float, "B" = 8-bit exponent): blocks
 * of 16 values share the largest biased exponent of the block; each value
 * keeps a sign and a 7-bit magnitude m with value m * 2^(exp - 127 - 6), so
 * the largest value of the block keeps its leading 1 and 6 more bits and
 * smaller ones lose bits to the alignment shift (rounded to nearest even,
 * clamped at 127; denormal inputs and an all-zero block give 0).
 *
 * Bfp4_b: the same blocks and shared exponent with a sign and a 3-bit
 * magnitude per value, m * 2^(exp - 127 - 2) (the largest value keeps its
 * leading 1 and 2 more bits), clamped at 7, two values per byte. The layout
 * and rounding follow tt-metal's host packer (tt_metal/impl/data_format/
 * blockfloat_common.cpp: convert_u32_to_bfp<Bfp4_b> rounds the aligned
 * mantissa to nearest, ties to even, saturates at 7 and drops the sign of a
 * zero magnitude; pack_as_bfp_tiles puts a tile's 64 exponents, one per face
 * row, ahead of the 512 data bytes with value 0 in the low nibble): a tile is
 * 64 + 512 = 576 bytes. tt-metal rounds after shifting the 24-bit mantissa
 * right by the exponent difference, so bits shifted out past bit 0 do not
 * break a tie; ttsim rounds the exact value (they differ only on those ties,
 * by one unit of the smallest magnitudes of the block).
 *
 * Math fidelity: the Tensix matrix unit multiplies a 5-bit slice of operand
 * A by a 7-bit slice of operand B per phase; LoFi runs one phase (the most
 * significant bits: hidden bit + 4 mantissa bits of A, hidden + 6 of B),
 * HiFi2 adds A's low bits (A complete at bf16 width: 7 mantissa bits), HiFi3
 * adds B's low bits (B complete: 7), HiFi4 adds the last low x low product.
 * We model a phase set by truncating each operand to the mantissa bits that
 * take part: LoFi (4, 6), HiFi2 (7, 6), HiFi3 (7, 7), HiFi4 (10, 10) = the
 * full TF32 width of the source registers. HiFi3 leaves out only the A-low x
 * B-low partial product (< 2^-12 relative), which the model ignores.
 */
#include "ttsim_internal.h"

#include <math.h>
#include <string.h>

const char *ttsim_format_name(ttsim_format fmt)
{
    switch (fmt) {
    case TTSIM_FMT_FP32: return "fp32";
    case TTSIM_FMT_BF16: return "bf16";
    case TTSIM_FMT_BFP8B: return "bfp8_b";
    case TTSIM_FMT_BFP4B: return "bfp4_b";
    case TTSIM_FMT_U32: return "u32";
    default: return "?";
    }
}

size_t ttsim_format_tile_bytes(ttsim_format fmt)
{
    switch (fmt) {
    case TTSIM_FMT_FP32: return 4096;
    case TTSIM_FMT_BF16: return 2048;
    case TTSIM_FMT_BFP8B: return 64 + 1024;
    case TTSIM_FMT_BFP4B: return 64 + 512;
    case TTSIM_FMT_U32: return 4096;
    default: return 4096;
    }
}

gboolean ttsim_format_is_block(ttsim_format fmt)
{
    return fmt == TTSIM_FMT_BFP8B || fmt == TTSIM_FMT_BFP4B;
}

int ttsim_format_stored_bits(ttsim_format fmt)
{
    switch (fmt) {
    case TTSIM_FMT_BF16: return 7;
    case TTSIM_FMT_BFP8B: return 6;
    case TTSIM_FMT_BFP4B: return 2;
    default: return 23;
    }
}

const char *ttsim_fidelity_name(ttsim_fidelity f)
{
    switch (f) {
    case TTSIM_LOFI: return "LoFi";
    case TTSIM_HIFI2: return "HiFi2";
    case TTSIM_HIFI3: return "HiFi3";
    case TTSIM_HIFI4: return "HiFi4";
    default: return "?";
    }
}

void ttsim_fidelity_bits(ttsim_fidelity f, int *a_bits, int *b_bits)
{
    switch (f) {
    case TTSIM_LOFI: *a_bits = 4; *b_bits = 6; break;
    case TTSIM_HIFI2: *a_bits = 7; *b_bits = 6; break;
    case TTSIM_HIFI3: *a_bits = 7; *b_bits = 7; break;
    default: *a_bits = 10; *b_bits = 10; break;
    }
}

float ttsim_truncate_mantissa(float x, int bits)
{
    if (bits >= 23) return x;
    guint32 u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;   /* inf / nan */
    u &= ~((1u << (23 - bits)) - 1u);
    memcpy(&x, &u, 4);
    return x;
}

void ttsim_truncate_array(float *x, size_t n, int bits)
{
    if (bits >= 23) return;
    guint32 mask = ~((1u << (23 - bits)) - 1u);
    guint32 *u = (guint32 *)x;
    for (size_t i = 0; i < n; i++)
        if ((u[i] & 0x7f800000u) != 0x7f800000u) u[i] &= mask;
}

/* The largest biased exponent of a block of 16 (NaN / inf count as 255). */
static int block_max_exp(const float in[16])
{
    int emax = 0;
    for (int i = 0; i < 16; i++) {
        guint32 u;
        memcpy(&u, &in[i], 4);
        int e = (int)((u >> 23) & 0xffu);
        if (e > emax) emax = e;
    }
    return emax;
}

void ttsim_bfp8_encode_block(const float in[16], guint8 *exp, guint8 mant[16])
{
    int emax = block_max_exp(in);
    *exp = (guint8)emax;
    /* |x| * 2^(133 - emax): exact scaling by a power of two in double */
    double scale = ldexp(1.0, 133 - emax);
    for (int i = 0; i < 16; i++) {
        guint32 u;
        memcpy(&u, &in[i], 4);
        guint8 sign = (guint8)((u >> 31) << 7);
        int e = (int)((u >> 23) & 0xffu);
        double mag = 0.0;
        if (emax > 0 && e > 0 && !isnan(in[i])) mag = nearbyint(fabs((double)in[i]) * scale);
        if (isnan(in[i]) || mag > 127.0) mag = 127.0;
        mant[i] = (guint8)(sign | (guint8)mag);
    }
}

void ttsim_bfp8_decode_block(guint8 exp, const guint8 mant[16], float out[16])
{
    float scale = (float)ldexp(1.0, (int)exp - 133);
    for (int i = 0; i < 16; i++) {
        float v = (float)(mant[i] & 0x7f) * scale;
        out[i] = (mant[i] & 0x80) ? -v : v;
    }
}

void ttsim_bfp4_encode_block(const float in[16], guint8 *exp, guint8 nib[8])
{
    int emax = block_max_exp(in);
    *exp = (guint8)emax;
    /* |x| * 2^(129 - emax): exact scaling by a power of two in double */
    double scale = ldexp(1.0, 129 - emax);
    memset(nib, 0, 8);
    for (int i = 0; i < 16; i++) {
        guint32 u;
        memcpy(&u, &in[i], 4);
        int e = (int)((u >> 23) & 0xffu);
        double mag = 0.0;
        if (emax > 0 && e > 0 && !isnan(in[i])) mag = nearbyint(fabs((double)in[i]) * scale);
        if (isnan(in[i]) || mag > 7.0) mag = 7.0;
        guint8 v = (guint8)mag;
        if (v) v |= (guint8)((u >> 31) << 3);   /* no negative zero, as tt-metal */
        nib[i / 2] |= (guint8)(v << ((i % 2) * 4));
    }
}

void ttsim_bfp4_decode_block(guint8 exp, const guint8 nib[8], float out[16])
{
    float scale = (float)ldexp(1.0, (int)exp - 129);
    for (int i = 0; i < 16; i++) {
        guint8 v = (guint8)((nib[i / 2] >> ((i % 2) * 4)) & 0xfu);
        float m = (float)(v & 0x7u) * scale;
        out[i] = (v & 0x8u) ? -m : m;
    }
}

void ttsim_round_storage(float *x, const ttsim_shape *s, int fmt)
{
    size_t n = (size_t)(s->batch * s->rows * s->cols);
    if (fmt == TTSIM_FMT_BF16) {
        for (size_t i = 0; i < n; i++) x[i] = ttsim_bf16_dec(ttsim_bf16_enc(x[i]));
    } else if (ttsim_format_is_block((ttsim_format)fmt)) {
        gint64 rows = s->batch * s->rows;
        for (gint64 r = 0; r < rows; r++)
            for (gint64 c0 = 0; c0 < s->cols; c0 += 16) {
                float v[16] = {0};
                gint64 k = s->cols - c0 < 16 ? s->cols - c0 : 16;
                memcpy(v, x + r * s->cols + c0, (size_t)k * sizeof(float));
                guint8 e, m[16];
                if (fmt == TTSIM_FMT_BFP4B) {
                    ttsim_bfp4_encode_block(v, &e, m);
                    ttsim_bfp4_decode_block(e, m, v);
                } else {
                    ttsim_bfp8_encode_block(v, &e, m);
                    ttsim_bfp8_decode_block(e, m, v);
                }
                memcpy(x + r * s->cols + c0, v, (size_t)k * sizeof(float));
            }
    }
}
