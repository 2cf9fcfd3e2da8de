/* core/runtime/tp_group.c - the tensor-parallel group models are built for
 * and the TP ops' communication counters (ttml/ops_parallel.h). Both are per
 * thread: ranks that are threads of one process each have their own. */
#include "internal.h"

static _Thread_local ttml_comm *tp_group;
static _Thread_local ttml_tp_stats tp_stats;

void ttml_tp_set_group(ttml_comm *tp) { tp_group = tp; }

ttml_comm *ttml_tp_get_group(void) { return tp_group; }

void ttml_tp_stats_add(guint64 bytes, double ms)
{
    tp_stats.bytes += bytes;
    tp_stats.ms += ms;
    tp_stats.calls++;
}

ttml_tp_stats ttml_tp_stats_take(void)
{
    ttml_tp_stats s = tp_stats;
    tp_stats = (ttml_tp_stats){0, 0.0, 0};
    return s;
}
