/* drivers/ttsim/storage/ttsim_memory.c - DRAM-bank and L1 accounting.
 *
 * Every device buffer is a list of pages (one tile in the buffer's storage
 * format, or 4096 bytes of u32 values) interleaved round-robin over the DRAM
 * banks starting at bank 0, as tt-metal's interleaved buffers are; L1
 * buffers are interleaved the same way over the cores' L1. A bank (core)
 * has budget total / banks (the l1= size per core); a request that would
 * push any bank over its budget fails with TTML_ERROR_OOM and nothing is
 * charged.
 */
#include "ttsim_internal.h"

#include <string.h>

void ttsim_memory_init(ttsim_memory *m, const ttsim_config *c)
{
    m->n_banks = c->n_banks;
    m->bank_budget = c->dram_bytes / (guint64)c->n_banks;
    m->bank_used = g_new0(guint64, c->n_banks);
    m->n_cores = c->n_cores;
    m->core_budget = c->l1_bytes;
    m->core_used = g_new0(guint64, c->n_cores);
}

void ttsim_memory_clear(ttsim_memory *m)
{
    g_clear_pointer(&m->bank_used, g_free);
    g_clear_pointer(&m->core_used, g_free);
}

/* Pages bank i receives when `pages` are dealt round-robin from bank 0. */
static guint64 pages_of(guint64 pages, int n, int i)
{
    return pages / (guint64)n + ((guint64)i < pages % (guint64)n ? 1 : 0);
}

/* One unit for every figure of an OOM message: MiB when the capacity is at
 * least 1 MiB, else KiB (a tiny dram= / l1= budget). */
static double in_unit(guint64 bytes, guint64 capacity, const char **unit)
{
    gboolean mib = capacity >= (1u << 20);
    *unit = mib ? "MiB" : "KiB";
    return (double)bytes / (mib ? 1048576.0 : 1024.0);
}

/* "out of DRAM: needs R, U of C in use; FIX" in one unit; when the total
 * would fit, the bank (core) that does not is named (interleaving puts
 * 1/n of every tensor on each). */
static void set_oom_error(const ttsim_memory *m, const char *arch, gboolean dram, guint64 request, int full,
                          GError **error)
{
    int n = dram ? m->n_banks : m->n_cores;
    const guint64 *used = dram ? m->bank_used : m->core_used;
    guint64 budget = dram ? m->bank_budget : m->core_budget, capacity = budget * (guint64)n, total = 0;
    for (int j = 0; j < n; j++) total += used[j];
    const char *u;
    double r = in_unit(request, capacity, &u), t = in_unit(total, capacity, &u), c = in_unit(capacity, capacity, &u);
    char where[160] = "";
    if (total + request <= capacity)
        g_snprintf(where, sizeof where, " (%s %d is full: %.3f of %.3f %s; each %s holds 1/%d of every tensor)",
                   dram ? "bank" : "core", full, in_unit(used[full], capacity, &u), in_unit(budget, capacity, &u),
                   u, dram ? "bank" : "core", n);
    gboolean bh = strcmp(arch, "blackhole") == 0;
    g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                "out of %s %s: needs %.3f %s, %.3f %s of %.3f %s in use%s; use a smaller batch or model, "
                "storage=bfp8_b (half of bf16), a larger %s= option%s",
                arch, dram ? "DRAM" : "L1", r, u, t, u, c, u, where, dram ? "dram" : "l1",
                bh ? "" : " or a larger device (ttsim:blackhole: 32 GiB DRAM, 1.5 MiB L1 per core)");
}

gboolean ttsim_memory_charge(ttsim_memory *m, const char *arch, ttml_mem_kind kind, guint64 pages,
                             size_t page_bytes, GError **error)
{
    if (kind == TTML_MEM_HOST || pages == 0) return TRUE;
    gboolean dram = kind == TTML_MEM_DRAM;
    int n = dram ? m->n_banks : m->n_cores;
    guint64 *used = dram ? m->bank_used : m->core_used;
    guint64 budget = dram ? m->bank_budget : m->core_budget;
    for (int i = 0; i < n; i++) {
        guint64 add = pages_of(pages, n, i) * page_bytes;
        if (add == 0) break;
        if (used[i] + add > budget) {
            set_oom_error(m, arch, dram, pages * page_bytes, i, error);
            m->oom = TRUE;
            return FALSE;
        }
    }
    for (int i = 0; i < n; i++) used[i] += pages_of(pages, n, i) * page_bytes;
    return TRUE;
}

void ttsim_memory_release(ttsim_memory *m, ttml_mem_kind kind, guint64 pages, size_t page_bytes)
{
    if (kind == TTML_MEM_HOST || pages == 0) return;
    gboolean dram = kind == TTML_MEM_DRAM;
    int n = dram ? m->n_banks : m->n_cores;
    guint64 *used = dram ? m->bank_used : m->core_used;
    for (int i = 0; i < n; i++) {
        guint64 sub = pages_of(pages, n, i) * page_bytes;
        used[i] = used[i] >= sub ? used[i] - sub : 0;
    }
}
