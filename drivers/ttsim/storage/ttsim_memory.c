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
            guint64 total = 0;
            for (int j = 0; j < n; j++) total += used[j];
            g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                        "ttsim %s: out of %s: request %" G_GUINT64_FORMAT " bytes (%" G_GUINT64_FORMAT
                        " tensor pages of %zu bytes over %d %s), budget %" G_GUINT64_FORMAT
                        " bytes per %s, %" G_GUINT64_FORMAT " in use in %s %d (%" G_GUINT64_FORMAT
                        " bytes in use in all); use a smaller model or batch, a larger %s= option or "
                        "another architecture",
                        arch, dram ? "DRAM" : "L1", pages * page_bytes, pages, page_bytes, n,
                        dram ? "banks" : "cores", budget, dram ? "bank" : "core", used[i],
                        dram ? "bank" : "core", i, total, dram ? "dram" : "l1");
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
