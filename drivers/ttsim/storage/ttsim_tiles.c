/* drivers/ttsim/storage/ttsim_tiles.c - a tensor image seen as tiles: unpack and
 * pack single tiles, tile-rows and logical rows for the native kernels.
 *
 * Inside a tile, element (r, c) lives in face (r / 16) * 2 + c / 16 at
 * (r % 16) * 16 + c % 16; the 16 values of a face row are one block (the
 * Bfp8_b / Bfp4_b exponent group), block index face * 16 + r % 16. Packing rounds to
 * the storage format and stores zeros in the padding, so images keep the
 * invariant "padding is zero" that every kernel may rely on.
 */
#include "ttsim_internal.h"

#include <string.h>

void ttsim_tiled_init(ttsim_tiled *t, void *data, ttsim_format fmt, const ttsim_shape *s)
{
    t->data = data;
    t->fmt = fmt;
    t->tile_bytes = ttsim_format_tile_bytes(fmt);
    t->s = *s;
    t->rt = (s->rows + TTSIM_TILE - 1) / TTSIM_TILE;
    t->ct = (s->cols + TTSIM_TILE - 1) / TTSIM_TILE;
}

static inline guint8 *tile_ptr(const ttsim_tiled *t, gint64 tile)
{
    return t->data + (size_t)tile * t->tile_bytes;
}

/* Unpack one tile into dst (row stride ld). */
static void unpack(const ttsim_tiled *t, gint64 tile, float *dst, size_t ld)
{
    const guint8 *p = tile_ptr(t, tile);
    for (int f = 0; f < 4; f++)
        for (int r = 0; r < TTSIM_FACE; r++)
            ttsim_get16(t->fmt, p, f * TTSIM_FACE + r, dst + ((size_t)(f / 2) * TTSIM_FACE + r) * ld + (f % 2) * TTSIM_FACE);
}

/* Pack one tile from src (row stride ld); rows >= vr and cols >= vc are
 * stored as zero. */
static void pack(const ttsim_tiled *t, gint64 tile, const float *src, size_t ld, int vr, int vc)
{
    guint8 *p = tile_ptr(t, tile);
    static const float zeros[16] = {0};
    for (int f = 0; f < 4; f++)
        for (int r = 0; r < TTSIM_FACE; r++) {
            int row = (f / 2) * TTSIM_FACE + r, col = (f % 2) * TTSIM_FACE;
            const float *v = src + (size_t)row * ld + col;
            if (row >= vr || col >= vc) {
                ttsim_put16(t->fmt, p, f * TTSIM_FACE + r, zeros);
            } else if (vc - col < TTSIM_FACE) {
                float tmp[16] = {0};
                memcpy(tmp, v, (size_t)(vc - col) * sizeof(float));
                ttsim_put16(t->fmt, p, f * TTSIM_FACE + r, tmp);
            } else {
                ttsim_put16(t->fmt, p, f * TTSIM_FACE + r, v);
            }
        }
}

static void valid_of(const ttsim_tiled *t, gint64 tile, int *vr, int *vc)
{
    gint64 tc = tile % t->ct, tr = (tile / t->ct) % t->rt;
    gint64 r = t->s.rows - tr * TTSIM_TILE, c = t->s.cols - tc * TTSIM_TILE;
    *vr = r < TTSIM_TILE ? (int)r : TTSIM_TILE;
    *vc = c < TTSIM_TILE ? (int)c : TTSIM_TILE;
}

void ttsim_tile_get_ld(const ttsim_tiled *t, gint64 tile, float *out, size_t ld)
{
    unpack(t, tile, out, ld);
}

void ttsim_tile_put_ld(const ttsim_tiled *t, gint64 tile, const float *in, size_t ld)
{
    int vr, vc;
    valid_of(t, tile, &vr, &vc);
    pack(t, tile, in, ld, vr, vc);
}

void ttsim_tile_get(const ttsim_tiled *t, gint64 tile, float *out)
{
    unpack(t, tile, out, TTSIM_TILE);
}

void ttsim_tile_put(const ttsim_tiled *t, gint64 tile, float *in)
{
    int vr, vc;
    valid_of(t, tile, &vr, &vc);
    pack(t, tile, in, TTSIM_TILE, vr, vc);
}

void ttsim_tilerow_get(const ttsim_tiled *t, gint64 g, float *out)
{
    size_t ld = (size_t)t->ct * TTSIM_TILE;
    for (gint64 tc = 0; tc < t->ct; tc++) unpack(t, g * t->ct + tc, out + tc * TTSIM_TILE, ld);
}

void ttsim_tilerow_put(const ttsim_tiled *t, gint64 g, float *in)
{
    size_t ld = (size_t)t->ct * TTSIM_TILE;
    for (gint64 tc = 0; tc < t->ct; tc++) {
        int vr, vc;
        valid_of(t, g * t->ct + tc, &vr, &vc);
        pack(t, g * t->ct + tc, in + tc * TTSIM_TILE, ld, vr, vc);
    }
}

/* Tile-row, row inside the tile and first block of logical row r. */
void ttsim_row_loc(const ttsim_tiled *t, gint64 r, gint64 *g, int *i)
{
    gint64 b = r / t->s.rows, rr = r % t->s.rows;
    *g = b * t->rt + rr / TTSIM_TILE;
    *i = (int)(rr % TTSIM_TILE);
}

void ttsim_row_get(const ttsim_tiled *t, gint64 r, float *out)
{
    gint64 g;
    int i;
    ttsim_row_loc(t, r, &g, &i);
    int f0 = (i / TTSIM_FACE) * 2;
    for (gint64 tc = 0; tc < t->ct; tc++) {
        const guint8 *p = tile_ptr(t, g * t->ct + tc);
        for (int h = 0; h < 2; h++) {
            gint64 col = tc * TTSIM_TILE + h * TTSIM_FACE;
            if (col >= t->s.cols) break;
            float v[16];
            ttsim_get16(t->fmt, p, (f0 + h) * TTSIM_FACE + i % TTSIM_FACE, v);
            gint64 n = t->s.cols - col < TTSIM_FACE ? t->s.cols - col : TTSIM_FACE;
            memcpy(out + col, v, (size_t)n * sizeof(float));
        }
    }
}

float ttsim_elem_get(const ttsim_tiled *t, gint64 row, gint64 col)
{
    gint64 g;
    int i;
    ttsim_row_loc(t, row, &g, &i);
    const guint8 *p = tile_ptr(t, g * t->ct + col / TTSIM_TILE);
    int c = (int)(col % TTSIM_TILE);
    int blk = ((i / TTSIM_FACE) * 2 + c / TTSIM_FACE) * TTSIM_FACE + i % TTSIM_FACE;
    switch (t->fmt) {
    case TTSIM_FMT_FP32: {
        float v;
        memcpy(&v, p + (size_t)blk * 64 + (size_t)(c % TTSIM_FACE) * 4, 4);
        return v;
    }
    case TTSIM_FMT_BF16: {
        guint16 h;
        memcpy(&h, p + (size_t)blk * 32 + (size_t)(c % TTSIM_FACE) * 2, 2);
        return ttsim_bf16_dec(h);
    }
    default: {
        float v[16];
        ttsim_get16(t->fmt, p, blk, v);
        return v[c % TTSIM_FACE];
    }
    }
}

void ttsim_tiled_to_host(const ttsim_tiled *t, float *x)
{
    ttsim_untilize(t->data, &t->s, t->fmt, x);
}

void ttsim_tiled_from_host(const ttsim_tiled *t, float *x)
{
    ttsim_round_and_tilize(x, &t->s, t->fmt, t->data);
}
