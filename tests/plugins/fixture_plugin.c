/* tests/plugins/fixture_plugin.c - one source, compiled into deliberately
 * good and broken plugins for test_loader (see CMakeLists.txt here). The
 * build defines FX_NAME (the file stem) and one FX_* behaviour switch. */
#include <ttml/ttml.h>

#define FX_CAT2(a, b, c) a##b##c
#define FX_CAT(a, b, c) FX_CAT2(a, b, c)
#define FX_ENTRY FX_CAT(ttml_plugin_, FX_NAME, _get_desc)
#define FX_STR2(x) #x
#define FX_STR(x) FX_STR2(x)

#ifdef FX_UNDEFINED_SYMBOL
void ttml_fixture_symbol_that_does_not_exist(void);
#endif

static ttml_tensor *fx_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    return ttml_tensor_ref(in[0]); /* identity */
}

static const ttml_op_desc fx_op = {
    sizeof(ttml_op_desc), "fx_op_" FX_STR(FX_NAME), "identity op of a test fixture", 1, 1, 0, fx_forward,
};

#ifdef FX_DUPLICATE_FEATURE
/* claims the op name that the fx_good fixture registers */
static const ttml_op_desc fx_clash_op = {
    sizeof(ttml_op_desc), "fx_op_fx_good", "clashing op", 1, 1, 0, fx_forward,
};
#endif

#ifdef FX_CLAIMS_RELU
/* claims core_ops' "relu"; that one registration fails, the plugin goes on */
static const ttml_op_desc fx_relu_op = {
    sizeof(ttml_op_desc), "relu", "a third-party relu (identity)", 1, 1, 0, fx_forward,
};
#endif

#ifdef FX_CRASH
__attribute__((no_sanitize_undefined)) /* crash for real, not as a UBSan report */
#endif
G_GNUC_UNUSED static gboolean fx_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
#ifdef FX_UNDEFINED_SYMBOL
    ttml_fixture_symbol_that_does_not_exist();
#endif
#ifdef FX_CRASH
    volatile int *volatile nowhere = NULL;
    *nowhere = 1; /* a real segfault in init */
#endif
    if (!host->register_op(plugin, &fx_op, error)) return FALSE;
#ifdef FX_INIT_FAILS
    g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN, "fixture refuses to start: no widget attached");
    return FALSE;
#endif
#ifdef FX_DUPLICATE_FEATURE
    if (!host->register_op(plugin, &fx_clash_op, error)) return FALSE;
#endif
#ifdef FX_CLAIMS_RELU
    GError *taken = NULL;
    if (!host->register_op(plugin, &fx_relu_op, &taken)) g_clear_error(&taken); /* keep the rest */
#endif
    return TRUE;
}

G_GNUC_UNUSED static int fx_probe(void)
{
#ifdef FX_PROBE_ZERO
    return 0;
#else
    return 1;
#endif
}

#ifndef FX_NO_ENTRY
#ifndef FX_ABI_MAJOR
#define FX_ABI_MAJOR TTML_ABI_MAJOR
#endif
#ifndef FX_ABI_MINOR
#define FX_ABI_MINOR TTML_ABI_MINOR
#endif
TTML_PLUGIN_EXPORT const ttml_plugin_desc *FX_ENTRY(void);
TTML_PLUGIN_EXPORT const ttml_plugin_desc *FX_ENTRY(void)
{
    static const ttml_plugin_desc desc = {
        sizeof(ttml_plugin_desc), FX_ABI_MAJOR, FX_ABI_MINOR, TTML_PLUGIN_OPS, FX_STR(FX_NAME),
        "0.0.1", "loader test fixture", "MIT", fx_probe, fx_init, NULL,
    };
    return &desc;
}
#else
TTML_PLUGIN_EXPORT int ttml_fixture_something_else(void);
TTML_PLUGIN_EXPORT int ttml_fixture_something_else(void) { return 42; }
#endif
