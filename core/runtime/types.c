/* core/runtime/types.c - dtype helpers, bf16 conversion and the error quark. */
#include "internal.h"

#include <string.h>

G_DEFINE_QUARK(ttml-error-quark, ttml_error)

size_t ttml_dtype_size(ttml_dtype dtype)
{
    switch (dtype) {
    case TTML_DTYPE_F32: return 4;
    case TTML_DTYPE_BF16: return 2;
    case TTML_DTYPE_U32: return 4;
    default: return 0;
    }
}

const char *ttml_dtype_name(ttml_dtype dtype)
{
    static const char *const names[] = {"f32", "bf16", "u32"};
    return (unsigned)dtype < TTML_DTYPE_COUNT ? names[dtype] : "?";
}

const char *ttml_mem_kind_name(ttml_mem_kind kind)
{
    static const char *const names[] = {"host", "dram", "l1"};
    return (unsigned)kind < TTML_MEM_KIND_COUNT ? names[kind] : "?";
}

guint16 ttml_f32_to_bf16(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) /* NaN: keep it quiet */
        return (guint16)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (guint16)(u >> 16);
}

float ttml_bf16_to_f32(guint16 b)
{
    guint32 u = (guint32)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
