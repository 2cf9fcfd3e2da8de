/* drivers/ttsim/storage/ttsim_layout.c - row-major <-> TILE layout.
 *
 * A tensor [..., R, C] is `batch` row-major R x C matrices. TILE layout pads
 * each to multiples of 32 and stores its 32x32 tiles row-major; a tile is
 * four 16x16 faces (top-left, top-right, bottom-left, bottom-right), each
 * face row-major, as tt-metal lays them out. The unit of conversion is one
 * face row of 16 values, which is also a Bfp8_b / Bfp4_b block: tile bytes
 * are, per format, fp32 1024 x 4; bf16 1024 x 2; bfp8_b 64 exponent bytes
 * (block b = face * 16 + row) followed by 64 x 16 sign/mantissa bytes;
 * bfp4_b the same 64 exponent bytes followed by 64 x 8 bytes of two
 * sign/mantissa nibbles.
 */
#include "ttsim_internal.h"

#include <string.h>

void ttsim_shape_from(int ndim, const int64_t *shape, ttsim_shape *out)
{
    out->batch = 1;
    out->rows = 1;
    out->cols = 1;
    if (ndim >= 1) out->cols = shape[ndim - 1];
    if (ndim >= 2) out->rows = shape[ndim - 2];
    for (int i = 0; i + 2 < ndim; i++) out->batch *= shape[i];
}

static gint64 ceil_div(gint64 a, gint64 b) { return (a + b - 1) / b; }

gint64 ttsim_shape_tiles(const ttsim_shape *s)
{
    return s->batch * ceil_div(s->rows, TTSIM_TILE) * ceil_div(s->cols, TTSIM_TILE);
}

size_t ttsim_shape_bytes(const ttsim_shape *s, ttsim_format fmt)
{
    if (fmt == TTSIM_FMT_U32) return (size_t)(s->batch * s->rows * s->cols) * 4;
    return (size_t)ttsim_shape_tiles(s) * ttsim_format_tile_bytes(fmt);
}

void ttsim_tilize(const float *src, const ttsim_shape *s, ttsim_format fmt, void *dst)
{
    const gint64 rt = ceil_div(s->rows, TTSIM_TILE), ct = ceil_div(s->cols, TTSIM_TILE);
    const size_t tb = ttsim_format_tile_bytes(fmt);
    guint8 *out = dst;
    for (gint64 b = 0; b < s->batch; b++) {
        const float *m = src + b * s->rows * s->cols;
        for (gint64 tr = 0; tr < rt; tr++)
            for (gint64 tc = 0; tc < ct; tc++, out += tb)
                for (int f = 0; f < 4; f++)
                    for (int r = 0; r < TTSIM_FACE; r++) {
                        gint64 row = tr * TTSIM_TILE + (f / 2) * TTSIM_FACE + r;
                        gint64 col = tc * TTSIM_TILE + (f % 2) * TTSIM_FACE;
                        float v[16] = {0};
                        if (row < s->rows && col < s->cols) {
                            gint64 n = s->cols - col < 16 ? s->cols - col : 16;
                            memcpy(v, m + row * s->cols + col, (size_t)n * sizeof(float));
                        }
                        ttsim_put16(fmt, out, f * TTSIM_FACE + r, v);
                    }
    }
}

void ttsim_untilize(const void *src, const ttsim_shape *s, ttsim_format fmt, float *dst)
{
    const gint64 rt = ceil_div(s->rows, TTSIM_TILE), ct = ceil_div(s->cols, TTSIM_TILE);
    const size_t tb = ttsim_format_tile_bytes(fmt);
    const guint8 *in = src;
    for (gint64 b = 0; b < s->batch; b++) {
        float *m = dst + b * s->rows * s->cols;
        for (gint64 tr = 0; tr < rt; tr++)
            for (gint64 tc = 0; tc < ct; tc++, in += tb)
                for (int f = 0; f < 4; f++)
                    for (int r = 0; r < TTSIM_FACE; r++) {
                        gint64 row = tr * TTSIM_TILE + (f / 2) * TTSIM_FACE + r;
                        gint64 col = tc * TTSIM_TILE + (f % 2) * TTSIM_FACE;
                        if (row >= s->rows || col >= s->cols) continue;
                        float v[16];
                        ttsim_get16(fmt, in, f * TTSIM_FACE + r, v);
                        gint64 n = s->cols - col < 16 ? s->cols - col : 16;
                        memcpy(m + row * s->cols + col, v, (size_t)n * sizeof(float));
                    }
    }
}

/* Round row-major f32 `x` in place to fmt and write the tile image, in one
 * pass over x in row order (bf16 / fp32); bfp8_b / bfp4_b round then tilize. */
void ttsim_round_and_tilize(float *x, const ttsim_shape *s, ttsim_format fmt, void *dst)
{
    if (fmt != TTSIM_FMT_BF16 && fmt != TTSIM_FMT_FP32) {
        ttsim_round_storage(x, s, fmt);
        ttsim_tilize(x, s, fmt, dst);
        return;
    }
    const gint64 rt = ceil_div(s->rows, TTSIM_TILE), ct = ceil_div(s->cols, TTSIM_TILE);
    const size_t es = fmt == TTSIM_FMT_BF16 ? 2 : 4;
    if (s->rows % TTSIM_TILE || s->cols % TTSIM_TILE)
        memset(dst, 0, (size_t)(s->batch * rt * ct) * TTSIM_TILE_ELEMS * es);
    for (gint64 b = 0; b < s->batch; b++)
        for (gint64 r = 0; r < s->rows; r++) {
            guint32 *row = (guint32 *)(x + (b * s->rows + r) * s->cols);
            const gint64 tile_row = (b * rt + r / TTSIM_TILE) * ct;
            const int face_row = (int)((r % TTSIM_TILE) / TTSIM_FACE) * 2;
            const size_t in_face = (size_t)(r % TTSIM_FACE) * TTSIM_FACE;
            for (gint64 c0 = 0; c0 < s->cols; c0 += TTSIM_FACE) {
                const gint64 k = s->cols - c0 < TTSIM_FACE ? s->cols - c0 : TTSIM_FACE;
                const size_t off = (size_t)(tile_row + c0 / TTSIM_TILE) * TTSIM_TILE_ELEMS +
                                   (size_t)(face_row + (int)((c0 % TTSIM_TILE) / TTSIM_FACE)) * 256 + in_face;
                guint32 *v = row + c0;
                if (fmt == TTSIM_FMT_FP32) {
                    memcpy((guint32 *)dst + off, v, (size_t)k * 4);
                    continue;
                }
                guint16 *o = (guint16 *)dst + off;
                for (gint64 i = 0; i < k; i++) {
                    float f;
                    memcpy(&f, &v[i], 4);
                    o[i] = ttsim_bf16_enc(f);
                    v[i] = (guint32)o[i] << 16;   /* the stored value */
                }
            }
        }
}
