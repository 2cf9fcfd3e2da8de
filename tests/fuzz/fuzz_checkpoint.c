/* tests/fuzz/fuzz_checkpoint.c - fuzz target: the safetensors reader
 * (core/formats/checkpoint.c, its JSON parser core/formats/json.c) and the
 * training-state metadata readers (core/train/train_state.c). Each input is
 * a whole file: header length, JSON header (dtypes, shapes, offsets,
 * metadata) and data. Every tensor that fits a small device tensor is loaded
 * into one of its exact shape, and into a mismatched one (which must fail);
 * the tokenizer in the metadata is deserialized. */
#include "fuzz.h"
#include "train_app.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *path;
static ttml_device *device;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    path = g_strdup_printf("%s/ttml-fuzz-checkpoint-%d.safetensors", g_get_tmp_dir(), (int)getpid());
    ttml_init_options o = {.struct_size = sizeof o, .skip_env_path = TRUE};
    GError *err = NULL;
    if (!ttml_init(&o, &err) || !(device = ttml_context_open_device("cpu", &err))) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", err->message);
        abort();
    }
    atexit(ttml_shutdown); /* stop the cpu driver's threads before LeakSanitizer runs */
    return 0;
}

static void load_one(ttml_checkpoint *ck, const char *name)
{
    ttml_dtype dtype;
    int ndim;
    int64_t shape[TTML_CHECKPOINT_MAX_DIMS];
    if (!ttml_checkpoint_tensor_info(ck, name, &dtype, &ndim, shape)) abort();
    gint64 numel = 1;
    for (int d = 0; d < ndim; d++) numel = shape[d] && numel > (1 << 16) / shape[d] ? (1 << 17) : numel * shape[d];
    if (ndim < 1 || ndim > TTML_MAX_DIMS || numel > (1 << 16) || numel == 0) return;
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_empty(device, ndim, shape, dtype, &err);
    if (t) {
        if (ttml_checkpoint_load_tensor(ck, name, t, &err) && dtype != TTML_DTYPE_U32) {
            float *v = g_new(float, numel);
            if (!ttml_tensor_to_floats(t, v, &err)) abort();
            g_free(v);
        }
        g_clear_error(&err);
        ttml_tensor_unref(t);
    }
    g_clear_error(&err);
    /* the same elements in another shape must be refused */
    int64_t flat[1] = {numel};
    t = ndim > 1 ? ttml_tensor_empty(device, 1, flat, dtype, &err) : NULL;
    if (t) {
        if (ttml_checkpoint_load_tensor(ck, name, t, &err)) abort();
        ttml_tensor_unref(t);
    }
    g_clear_error(&err);
}

static void read_metadata(ttml_checkpoint *ck)
{
    static const char *const ints[] = {"step", "optimizer_steps", "rng_seed", "rng_counter", "scheduler_step",
                                       "total_steps", "vocab_size", "max_sequence_length", NULL};
    static const char *const strings[] = {"model_type", "optimizer_type", "scheduler_type", "config",
                                          "config_path", "data_path", "val_loss", NULL};
    GError *err = NULL;
    ttml_checkpoint *state = ttml_train_state_open(path, &err);
    g_clear_error(&err);
    for (const char *const *k = ints; state && *k; k++) {
        gint64 v;
        (void)ttml_train_state_int(state, path, *k, &v, &err);
        g_clear_error(&err);
    }
    for (const char *const *k = strings; state && *k; k++) {
        (void)ttml_train_state_string(state, path, *k, &err);
        g_clear_error(&err);
    }
    ttml_checkpoint_close(state);
    const char *tok = ttml_checkpoint_metadata(ck, "tokenizer");
    ttml_tokenizer *t = tok ? ttml_tokenizer_deserialize(tok, &err) : NULL;
    g_clear_error(&err);
    if (t) {
        (void)ttml_tokenizer_padded_vocab_size(t);
        ttml_tokenizer_free(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    if (!g_file_set_contents(path, (const char *)data, (gssize)size, &err)) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", err->message);
        abort();
    }
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    g_clear_error(&err);
    if (ck) {
        const GPtrArray *names = ttml_checkpoint_names(ck);
        for (guint i = 0; i < names->len; i++) load_one(ck, g_ptr_array_index(names, i));
        read_metadata(ck);
        ttml_tensor *t = ttml_tensor_scalar(device, 0.0f, &err);
        if (ttml_checkpoint_load_tensor(ck, "no such tensor \xe2\x80\x94", t, &err)) abort();
        g_clear_error(&err);
        ttml_tensor_unref(t);
        ttml_checkpoint_close(ck);
    }
    g_unlink(path);
    return 0;
}
