/* drivers/ttsim/ttsim_arch.c - the simulated architectures (as data) and the
 * device option string.
 *
 * Figures are public (see docs/ttsim.md for the sources): Tenstorrent's
 * board specifications (docs.tenstorrent.com/aibs/wormhole/specifications,
 * .../aibs/blackhole/specifications) and the Tensix ISA documentation
 * (github.com/tenstorrent/tt-isa-documentation: 1464 KiB of L1 per Wormhole
 * Tensix tile). The worker grid is the compute grid tt-metal exposes (8x8 on
 * an n150, whose spec counts 72 Tensix cores; 13x10 on a p150, 140 cores).
 */
#include "ttsim_internal.h"

#include <stdlib.h>
#include <string.h>

#define KiB 1024ull
#define GiB (1024ull * 1024ull * 1024ull)
/* Wormhole Ethernet (tt-metal tech_reports/EthernetMultichip/BasicEthernetGuide.md):
 * 100 Gb/s per direction per link ("Ethernet Link"), about 650 ns per hop of
 * a chip ring ("Ring Ping Latency"). Blackhole: no figures here (0). */
#define ETH_WH_BPS (100e9 / 8.0)
#define ETH_WH_HOP_S 650e-9

static const ttsim_arch arches[] = {
    {"wormhole_b0", "n150", 1, 8, 8, 1464 * KiB, 12 * GiB, 12, 288e9, 1.0e9, 32, ETH_WH_BPS, ETH_WH_HOP_S,
     "Wormhole n150 spec: 12 GB GDDR6, 288 GB/s, 1 GHz AI clock; tt-isa-documentation: 1464 KiB L1 "
     "per Tensix tile; tt-metal: 8x8 compute grid, 12 DRAM banks"},
    {"n300", "n300", 2, 8, 8, 1464 * KiB, 12 * GiB, 12, 288e9, 1.0e9, 32, ETH_WH_BPS, ETH_WH_HOP_S,
     "Wormhole n300 spec: two Wormhole ASICs (64 Tensix cores each) joined by Ethernet, 24 GB "
     "GDDR6, 576 GB/s, 1 GHz"},
    {"blackhole", "p150", 1, 13, 10, 1536 * KiB, 32 * GiB, 8, 512e9, 1.35e9, 64, 0.0, 0.0,
     "Blackhole p150 spec: 32 GB GDDR6 (8 banks), 512 GB/s, up to 1.35 GHz, 1.5 MB SRAM per Tensix "
     "core; tt-metal: 13x10 compute grid"},
};

const ttsim_arch *ttsim_arch_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(arches); i++)
        if (g_ascii_strcasecmp(name, arches[i].name) == 0 || g_ascii_strcasecmp(name, arches[i].board) == 0)
            return &arches[i];
    if (g_ascii_strcasecmp(name, "wormhole") == 0) return &arches[0];
    return NULL;
}

char *ttsim_arch_list(void)
{
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(arches); i++)
        g_string_append_printf(s, "%s%s (%s)", i ? ", " : "", arches[i].name, arches[i].board);
    return g_string_free(s, FALSE);
}

gboolean ttsim_parse_size(const char *text, guint64 *out)
{
    if (!text || !*text) return FALSE;
    char *end = NULL;
    guint64 v = g_ascii_strtoull(text, &end, 10);
    if (end == text) return FALSE;
    guint64 mul = 1;
    if (*end) {
        switch (g_ascii_toupper(*end)) {
        case 'K': mul = KiB; break;
        case 'M': mul = KiB * KiB; break;
        case 'G': mul = GiB; break;
        default: return FALSE;
        }
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'b' || *end == 'B') end++;
        if (*end) return FALSE;
    }
    if (v == 0 || v > G_MAXUINT64 / mul) return FALSE;
    *out = v * mul;
    return TRUE;
}

static void config_from_arch(ttsim_config *c, const ttsim_arch *a)
{
    c->arch = a;
    c->n_cores = a->n_chips * a->grid_x * a->grid_y;
    c->n_banks = a->n_chips * a->dram_banks;
    c->dram_bytes = (guint64)a->n_chips * a->dram_bytes;
    c->l1_bytes = a->l1_bytes;
    c->dram_bytes_per_s = a->n_chips * a->dram_bytes_per_s;
    c->clock_hz = a->clock_hz;
    c->noc_bytes_per_cycle = a->noc_bytes_per_cycle;
}

gboolean ttsim_config_parse(const char *options, ttsim_config *c, GError **error)
{
    memset(c, 0, sizeof *c);
    config_from_arch(c, &arches[0]);
    c->fidelity = TTSIM_HIFI4;
    c->storage = TTSIM_FMT_BF16;
    c->report = TRUE;
    c->fallback = TRUE;
    c->threads = 0;
    if (!options || !*options) return TRUE;

    gchar **items = g_strsplit(options, ",", -1);
    gboolean ok = TRUE;
    guint64 dram = 0, l1 = 0;
    for (int i = 0; ok && items[i]; i++) {
        char *it = g_strstrip(items[i]);
        if (!*it) continue;
        char *eq = strchr(it, '=');
        if (!eq) {
            const ttsim_arch *a = ttsim_arch_find(it);
            if (!a || i != 0) {
                char *known = ttsim_arch_list();
                if (!a)
                    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                                "ttsim: unknown architecture '%s' in 'ttsim:%s'; known architectures: %s "
                                "(e.g. 'ttsim:wormhole_b0,dram=64M')", it, options, known);
                else
                    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                                "ttsim: the architecture '%s' must come first in 'ttsim:%s' "
                                "(e.g. 'ttsim:%s,dram=64M')", it, options, a->name);
                g_free(known);
                ok = FALSE;
                break;
            }
            config_from_arch(c, a);
            continue;
        }
        *eq = '\0';
        const char *key = it, *val = eq + 1;
        if (strcmp(key, "dram") == 0) {
            ok = ttsim_parse_size(val, &dram);
        } else if (strcmp(key, "l1") == 0) {
            ok = ttsim_parse_size(val, &l1);
        } else if (strcmp(key, "fidelity") == 0) {
            ok = TRUE;
            if (g_ascii_strcasecmp(val, "LoFi") == 0) c->fidelity = TTSIM_LOFI;
            else if (g_ascii_strcasecmp(val, "HiFi2") == 0) c->fidelity = TTSIM_HIFI2;
            else if (g_ascii_strcasecmp(val, "HiFi3") == 0) c->fidelity = TTSIM_HIFI3;
            else if (g_ascii_strcasecmp(val, "HiFi4") == 0) c->fidelity = TTSIM_HIFI4;
            else ok = FALSE;
        } else if (strcmp(key, "storage") == 0) {
            ok = TRUE;
            if (g_ascii_strcasecmp(val, "bf16") == 0) c->storage = TTSIM_FMT_BF16;
            else if (g_ascii_strcasecmp(val, "fp32") == 0 || g_ascii_strcasecmp(val, "f32") == 0)
                c->storage = TTSIM_FMT_FP32;
            else if (g_ascii_strcasecmp(val, "bfp8_b") == 0 || g_ascii_strcasecmp(val, "bfp8") == 0)
                c->storage = TTSIM_FMT_BFP8B;
            else if (g_ascii_strcasecmp(val, "bfp4_b") == 0 || g_ascii_strcasecmp(val, "bfp4") == 0)
                c->storage = TTSIM_FMT_BFP4B;
            else ok = FALSE;
        } else if (strcmp(key, "report") == 0) {
            ok = TRUE;
            if (strcmp(val, "1") == 0 || g_ascii_strcasecmp(val, "on") == 0) c->report = TRUE;
            else if (strcmp(val, "0") == 0 || g_ascii_strcasecmp(val, "off") == 0) c->report = FALSE;
            else ok = FALSE;
        } else if (strcmp(key, "fallback") == 0) {
            ok = TRUE;
            if (strcmp(val, "1") == 0 || g_ascii_strcasecmp(val, "on") == 0) c->fallback = TRUE;
            else if (strcmp(val, "0") == 0 || g_ascii_strcasecmp(val, "off") == 0) c->fallback = FALSE;
            else ok = FALSE;
        } else if (strcmp(key, "threads") == 0) {
            char *end = NULL;
            long n = strtol(val, &end, 10);
            ok = end && end != val && *end == '\0' && n >= 1 && n <= 256;
            if (ok) c->threads = (int)n;
        } else {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "ttsim: unknown option '%s' in 'ttsim:%s'; options are ARCH (first), dram=SIZE, "
                        "l1=SIZE, fidelity=LoFi|HiFi2|HiFi3|HiFi4, storage=bf16|fp32|bfp8_b|bfp4_b, report=on|off, "
                        "fallback=on|off, threads=N", key, options);
            ok = FALSE;
            break;
        }
        if (!ok)
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "ttsim: bad value '%s' for '%s' in 'ttsim:%s'; sizes are like 64M, 256K, 12G; "
                        "fidelity is LoFi, HiFi2, HiFi3 or HiFi4; storage is bf16, fp32, bfp8_b or bfp4_b; "
                        "report and fallback are on or off; threads is 1..256", val, key, options);
    }
    g_strfreev(items);
    if (!ok) return FALSE;
    if (dram) c->dram_bytes = dram;
    if (l1) c->l1_bytes = l1;
    return TRUE;
}
