/* core/runtime/profile.c - zone dispatch to the attached profiler sink, and
 * the thread's open zones (kept with or without a sink) so that an error
 * can say in which op, backward node or step phase it happened. */
#include "internal.h"

#include <ttml/profile_zones.h>

#include <string.h>

static const ttml_profile_sink *sink;

void ttml_profile_set_sink(const ttml_profile_sink *s) { sink = s; }
gboolean ttml_profile_active(void) { return sink != NULL; }

#define ZONE_DEPTH 32
typedef struct open_zone {
    const char *name, *category;
} open_zone;
static _Thread_local open_zone zones[ZONE_DEPTH];
static _Thread_local int depth; /* may exceed ZONE_DEPTH: only the outer ones are kept */

void ttml_zone_begin(const char *name, const char *category)
{
    if (depth < ZONE_DEPTH) zones[depth] = (open_zone){name, category};
    depth++;
    if (G_UNLIKELY(sink)) sink->zone_begin(sink->user_data, name, category);
}

void ttml_zone_end(void)
{
    if (depth > 0) depth--;
    if (G_UNLIKELY(sink)) sink->zone_end(sink->user_data);
}

/* Index of the innermost zone of `category` open on this thread, or -1. */
static int innermost(const char *category)
{
    for (int i = MIN(depth, ZONE_DEPTH); i-- > 0;)
        if (strcmp(zones[i].category, category) == 0) return i;
    return -1;
}

gboolean ttml_zone_describe(char *buf, size_t size)
{
    int op = innermost("op"), bw = innermost("backward"), phase = innermost("phase");
    if (bw > op)
        g_snprintf(buf, size, "backward of op '%s'", zones[bw].name);
    else if (op >= 0 && bw >= 0)   /* an op called by a backward node is part of its work */
        g_snprintf(buf, size, "op '%s' in the backward of '%s'", zones[op].name, zones[bw].name);
    else if (op >= 0)
        g_snprintf(buf, size, "op '%s' (%s)", zones[op].name, phase >= 0 ? zones[phase].name : "forward");
    else if (phase >= 0)
        g_snprintf(buf, size, "step phase '%s'", zones[phase].name);
    else
        return FALSE;
    return TRUE;
}
