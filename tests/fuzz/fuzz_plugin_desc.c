/* tests/fuzz/fuzz_plugin_desc.c - fuzz target: the plugin descriptor checks
 * (ttml_loader_load_desc in core/plugins/loader.c: struct_size, ABI
 * major/minor, kind, name against the file stem, probe, init, the withdrawal
 * of a failed init's registrations, fini at shutdown). The input is a
 * descriptor: the loader is handed exactly struct_size bytes (as a plugin built
 * against an older or newer header would), so a read past what the plugin
 * declared is a sanitizer report.
 *
 * Layout: u16 struct_size, u16 abi_major, u16 abi_minor, u32 kind, u8 flags
 * (bits 0-1 probe: none / returns 0 / returns 1; bits 2-3 init: none / ok /
 * fails with an error / fails without one; bit 4 fini; bit 5 file stem = name;
 * bit 6 init registers a kernel), u8 null mask (name, version, description,
 * license), then NUL-separated strings: name, version, description, license,
 * file stem (when bit 5 is clear), kernel name. */
#include "fuzz.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static int probe_zero(void) { return 0; }
static int probe_one(void) { return 1; }
static const char *kernel_name;
static gboolean kernel_fn(ttml_device *device, const ttml_launch *launch, GError **error) { return TRUE; }

static gboolean register_kernel(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return !kernel_name || host->register_kernel(plugin, "cpu", kernel_name, kernel_fn, error);
}
static gboolean init_ok(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return register_kernel(plugin, host, error);
}
static gboolean init_error(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    if (register_kernel(plugin, host, error))
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN, "fuzz init fails on purpose");
    return FALSE;
}
static gboolean init_silent(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    (void)register_kernel(plugin, host, NULL);
    return FALSE;
}
static void fini(ttml_plugin *plugin) { (void)ttml_plugin_get_name(plugin); }

int LLVMFuzzerInitialize(int *argc, char ***argv) { return 0; }

/* The next NUL-terminated string of [*p, end) (the rest when unterminated). */
static char *next_string(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
    const uint8_t *stop = nul ? nul : end;
    char *s = g_strndup((const char *)*p, (gsize)(stop - *p));
    *p = nul ? nul + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12) return 0;
    ttml_plugin_desc full = {0};
    full.struct_size = (size_t)(data[0] | data[1] << 8);
    full.abi_major = (guint16)(data[2] | data[3] << 8);
    full.abi_minor = (guint16)(data[4] | data[5] << 8);
    full.kind = (ttml_plugin_kind)((guint32)data[6] | (guint32)data[7] << 8 | (guint32)data[8] << 16 |
                                   (guint32)data[9] << 24);
    guint8 flags = data[10], nulls = data[11];
    const uint8_t *p = data + 12, *end = data + size;
    char *strings[6];
    for (int i = 0; i < 6; i++) strings[i] = next_string(&p, end);
    full.name = nulls & 1 ? NULL : strings[0];
    full.version = nulls & 2 ? NULL : strings[1];
    full.description = nulls & 4 ? NULL : strings[2];
    full.license = nulls & 8 ? NULL : strings[3];
    static int (*const probes[])(void) = {NULL, probe_zero, probe_one, probe_one};
    static gboolean (*const inits[])(ttml_plugin *, const ttml_host *, GError **) = {NULL, init_ok, init_error,
                                                                                     init_silent};
    full.probe = probes[flags & 3];
    full.init = inits[(flags >> 2) & 3];
    full.fini = flags & 16 ? fini : NULL;
    const char *stem = flags & 32 ? (full.name ? full.name : "") : strings[4];
    kernel_name = flags & 64 ? strings[5] : NULL;

    /* exactly the bytes the plugin declared (at least the struct_size field) */
    size_t bytes = MAX(sizeof(size_t), MIN(full.struct_size, sizeof full));
    ttml_plugin_desc *d = g_malloc(bytes);
    memcpy(d, &full, bytes);

    ttml_init_options o = {.struct_size = sizeof o, .skip_env_path = TRUE, .skip_default_path = TRUE};
    GError *err = NULL;
    if (!ttml_init(&o, &err)) abort();
    ttml_plugin_record *r = g_new0(ttml_plugin_record, 1);
    r->path = g_strdup("/fuzz/libttml_fuzz.so");
    r->origin = TTML_ORIGIN_CMDLINE_FILE;
    ttml_loader_load_desc(d, stem, NULL, r);
    if (r->status == TTML_PLUGIN_OK && !r->plugin) abort();
    if (r->status != TTML_PLUGIN_OK && !r->message) abort();
    ttml_shutdown(); /* calls fini of what loaded: the descriptor must still be valid */
    ttml_loader_record_free(r);
    g_free(d);
    for (int i = 0; i < 6; i++) g_free(strings[i]);
    return 0;
}
