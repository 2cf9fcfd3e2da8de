/* core/train/train_fit.c - refuse a language model that cannot fit the
 * device before anything is allocated: parameters + gradients + optimizer
 * state + activations of one micro-batch (the model's estimate hook) in the
 * device's stored element size, against its memory (ttml_device_info). */
#include "train_app.h"

#include <string.h>

/* Optimizer state elements per parameter (a lower bound for unknown ones). */
static int state_per_param(const char *optimizer_type)
{
    if (g_str_has_suffix(optimizer_type, "adamw") || g_str_has_suffix(optimizer_type, "adam")) return 2;
    return 0;
}

/* What would help, by driver. */
static const char *fix_for(const char *driver)
{
    if (strcmp(driver, "ttsim") == 0)
        return "use a smaller model (embedding_dim, num_blocks), a smaller batch_size, runner_type: "
               "memory_efficient, storage=bfp8_b, or a device with more memory (ttsim:blackhole: 32 GiB)";
    return "use a smaller model (embedding_dim, num_blocks), a smaller batch_size, runner_type: "
           "memory_efficient, or a machine with more memory";
}

gboolean ttml_train_check_fits(const ttml_train_fit *f, GError **error)
{
    const char *env = g_getenv("TTML_FIT_CHECK");
    if (env && strcmp(env, "0") == 0) return TRUE;
    const ttml_device_info *info = ttml_device_get_info(f->device);
    ttml_mem_kind kind = info->mem_bytes[TTML_MEM_DRAM] ? TTML_MEM_DRAM : TTML_MEM_HOST;
    guint64 capacity = info->mem_bytes[kind];
    if (!capacity) return TRUE;
    ttml_model_size size = {sizeof size, 0, 0};
    GError *local = NULL;
    if (!ttml_lm_model_estimate(f->model_type, f->config_text, f->config_name, f->vocab, &size, &local)) {
        /* no estimate hook: nothing to check; config errors surface as the model is built */
        g_clear_error(&local);
        return TRUE;
    }
    double eb = info->stored_f32_bytes > 0 ? info->stored_f32_bytes : 4.0;
    int k = state_per_param(f->optimizer_type);
    double params = (double)size.n_params * eb, grads = params, state = params * k;
    double acts = (double)size.activations_per_token * (double)f->batch * (double)f->seq * eb;
    double total = params + grads + state + acts;
    if (total <= (double)capacity) return TRUE;
    gboolean gib = capacity >= (1ull << 30);
    double u = gib ? 1073741824.0 : 1048576.0;
    const char *un = gib ? "GiB" : "MiB";
    g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                "model '%s' (%.3g parameters) needs about %.2f %s on device %s but it has %.2f %s of %s: "
                "parameters %.2f %s (%.4g bytes each), gradients %.2f %s, optimizer state (%s: %d per "
                "parameter) %.2f %s, activations (estimate, batch %" G_GINT64_FORMAT " x sequence %" G_GINT64_FORMAT
                ") %.2f %s; nothing was allocated; %s (TTML_FIT_CHECK=0 skips this check)",
                f->model_type, (double)size.n_params, total / u, un, f->spec, (double)capacity / u, un,
                kind == TTML_MEM_DRAM ? "DRAM" : "memory", params / u, un, eb, grads / u, un, f->optimizer_type, k,
                state / u, un, f->batch, f->seq, acts / u, un, fix_for(ttml_device_driver_name(f->device)));
    return FALSE;
}
