/* test_profiler.c - the profiler layer (drivers/profiler), its collector
 * (ttml/profiler_outputs.h) and the memory tracker (ttml/profile_zones.h):
 *   - profiler:cpu and TTML_LAYERS=profiler wrap the device; results are
 *     bit-identical to plain cpu (same seed, same short MLP training run);
 *   - kernel / op / transfer counts and bytes against hand-computed sizes;
 *   - nested zones in a Chrome trace that a real JSON parser (python3) reads,
 *     with the nesting checked from the parsed events;
 *   - the event cap, the CSV rows, the summary text;
 *   - memory snapshots against known allocation sizes;
 *   - the HTML report loaded in headless chromium (DOM + screenshot): the
 *     binary's `browser` mode, a ctest test of its own that exits 77
 *     (skipped) when /usr/bin/chromium is absent. */
#include "test_util.h"

#include <ttml/profiler_outputs.h>

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"
#define CHROMIUM "/usr/bin/chromium"

static ttml_device *setup(const char *spec)
{
    GError *err = NULL;
    ttml_init_options opts = {sizeof opts, NULL, NULL, TRUE, FALSE};
    CU_ASSERT_TRUE_FATAL(ttml_init(&opts, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_device *d = ttml_context_open_device(spec, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    ttml_set_seed(1234);
    return d;
}

static const ttml_profile_row *find_row(GArray *rows, const char *section, const char *name)
{
    for (guint i = 0; i < rows->len; i++) {
        const ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        if (strcmp(r->section, section) == 0 && strcmp(r->name, name) == 0) return r;
    }
    return NULL;
}

/* Run argv (argv[0] a path); returns the exit status, prints stderr on failure. */
static int run(char **argv, char **out)
{
    char *err_text = NULL;
    int status = ttml_test_run_tool(argv[0], (const char *const *)argv + 1, NULL, NULL, out, &err_text);
    if (status != 0) fprintf(stderr, "\n%s failed:\n%s\n", argv[0], err_text ? err_text : "");
    g_free(err_text);
    return status;
}

/* ---- the layer ---- */

static void test_layer_open(void)
{
    GError *err = NULL;
    ttml_profiler_configure(NULL);
    ttml_device *d = setup("profiler:cpu");
    CU_ASSERT_STRING_EQUAL(ttml_device_driver_name(d), "cpu");
    CU_ASSERT_TRUE(ttml_profiler_active());
    CU_ASSERT_TRUE(ttml_profiler_used());
    CU_ASSERT_TRUE(ttml_profile_active()); /* the collector is the zone sink */
    /* stats and info pass through: same as an unwrapped cpu device */
    ttml_device_stats st;
    gboolean has = ttml_device_get_stats(d, &st);
    ttml_device *plain = ttml_device_open("cpu", &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_device_stats st2;
    CU_ASSERT_EQUAL(has, ttml_device_get_stats(plain, &st2));
    CU_ASSERT_STRING_EQUAL(ttml_device_get_info(d)->name, ttml_device_get_info(plain)->name);
    /* the layer takes no options, is not applied twice, and needs a device below */
    CU_ASSERT_PTR_NULL(ttml_device_open("profiler:profiler:cpu", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "already profiled");
    CU_ASSERT_PTR_NULL(ttml_device_open("profiler", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "profiler");
    ttml_shutdown();
    CU_ASSERT_FALSE(ttml_profiler_active());
    CU_ASSERT_FALSE(ttml_profile_active());
}

static void test_env_layers(void)
{
    GError *err = NULL;
    ttml_profiler_configure(NULL);
    g_setenv("TTML_LAYERS", "profiler", TRUE);
    ttml_device *d = setup("cpu");
    CU_ASSERT_TRUE(ttml_profiler_active());
    /* named in both places: wrapped once */
    ttml_device *d2 = ttml_device_open("profiler:cpu", &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL(d2);
    (void)d;
    ttml_shutdown();
    g_setenv("TTML_LAYERS", " nope ", TRUE);
    ttml_init_options opts = {sizeof opts, NULL, NULL, TRUE, FALSE};
    CU_ASSERT_TRUE_FATAL(ttml_init(&opts, &err));
    CU_ASSERT_PTR_NULL(ttml_context_open_device("cpu", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "'nope'");
    ttml_shutdown();
    g_unsetenv("TTML_LAYERS");
}

/* A short MLP + AdamW run; returns every parameter's bytes, concatenated. */
static GByteArray *train_mlp(const char *spec)
{
    GError *err = NULL;
    setup(spec);
    ttml_config *cfg =
        ttml_config_load_string("input_features: 3\nhidden_features: [16, 8]\noutput_features: 2\n", "m.yaml", &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_module *m = ttml_model_create("mlp", cfg, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_config_free(cfg);
    GPtrArray *params = ttml_module_parameters(m);
    ttml_optimizer *opt = ttml_optimizer_create("adamw", params, NULL, 0.01, 0.01, &err);
    TTML_ASSERT_NO_ERROR(err);
    float x[32 * 3], y[32 * 2];
    ttml_rng_fill_normal(x, G_N_ELEMENTS(x), 0.0f, 1.0f);
    ttml_rng_fill_normal(y, G_N_ELEMENTS(y), 0.0f, 1.0f);
    const int64_t xs[2] = {32, 3}, ys[2] = {32, 2};
    ttml_tensor *tx = ttml_tensor_from_floats(NULL, 2, xs, x, &err);
    ttml_tensor *ty = ttml_tensor_from_floats(NULL, 2, ys, y, &err);
    TTML_ASSERT_NO_ERROR(err);
    for (int step = 0; step < 4; step++) {
        ttml_tensor *pred = ttml_module_forward(m, tx, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor *loss = ttml_mse_loss(pred, ty, TTML_REDUCE_MEAN, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_optimizer_zero_grad(opt);
        CU_ASSERT_TRUE_FATAL(ttml_backward(loss, NULL, FALSE, &err));
        CU_ASSERT_TRUE_FATAL(ttml_optimizer_step(opt, &err));
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(loss);
        ttml_tensor_unref(pred);
        ttml_reset_graph();
    }
    GByteArray *bytes = g_byte_array_new();
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        guint8 *buf = g_malloc(p->tensor->numel * 4);
        CU_ASSERT_TRUE(ttml_tensor_read(p->tensor, buf, &err));
        TTML_ASSERT_NO_ERROR(err);
        g_byte_array_append(bytes, buf, (guint)(p->tensor->numel * 4));
        g_free(buf);
    }
    ttml_tensor_unref(tx);
    ttml_tensor_unref(ty);
    ttml_optimizer_free(opt);
    g_ptr_array_unref(params);
    ttml_module_unref(m);
    ttml_shutdown();
    return bytes;
}

static void test_bit_identical(void)
{
    ttml_profiler_configure(NULL);
    GByteArray *plain = train_mlp("cpu");
    CU_ASSERT_FALSE(ttml_profiler_used());
    GByteArray *prof = train_mlp("profiler:cpu");
    CU_ASSERT_TRUE(ttml_profiler_used());
    CU_ASSERT_EQUAL_FATAL(plain->len, prof->len);
    CU_ASSERT_EQUAL(plain->len, (3 * 16 + 16 + 16 * 8 + 8 + 8 * 2 + 2) * 4);
    CU_ASSERT_EQUAL(memcmp(plain->data, prof->data, plain->len), 0);
    /* and the run was profiled: backward nodes and optimizer kernels seen */
    GArray *rows = ttml_profiler_rows();
    guint n_kernel = 0, n_backward = 0;
    for (guint i = 0; i < rows->len; i++) {
        const ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        n_kernel += strcmp(r->section, "kernel") == 0;
        n_backward += strcmp(r->section, "backward") == 0;
    }
    CU_ASSERT_TRUE(n_kernel >= 3);
    CU_ASSERT_TRUE(n_backward >= 2);
    g_array_unref(rows);
    g_byte_array_unref(plain);
    g_byte_array_unref(prof);
}

/* ---- counts and bytes ---- */

static void test_counts_and_bytes(void)
{
    GError *err = NULL;
    ttml_profiler_configure(NULL);
    setup("profiler:cpu");
    float data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (float)i;
    const int64_t shape[2] = {10, 100};
    ttml_tensor *a = ttml_tensor_from_floats(NULL, 2, shape, data, &err);
    ttml_tensor *b = ttml_tensor_from_floats(NULL, 2, shape, data, &err);
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < 3; i++) {
        ttml_tensor *c = ttml_add(a, b, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(c);
    }
    float back[1000];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(a, back, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_device_synchronize(ttml_context_get_device(), &err));

    GArray *rows = ttml_profiler_rows();
    const ttml_profile_row *op = find_row(rows, "op", "add");
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    CU_ASSERT_EQUAL(op->calls, 3);
    /* each add moves two 4000-byte inputs and one 4000-byte output */
    CU_ASSERT_EQUAL(op->bytes, 3 * 12000);
    /* the kernels inside the op zone account for the same bytes */
    guint64 kernel_bytes = 0, kernel_calls = 0;
    for (guint i = 0; i < rows->len; i++) {
        const ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        if (strcmp(r->section, "kernel") == 0) kernel_bytes += r->bytes, kernel_calls += r->calls;
    }
    CU_ASSERT_EQUAL(kernel_calls, 3);
    CU_ASSERT_EQUAL(kernel_bytes, 3 * 12000);
    const ttml_profile_row *w = find_row(rows, "transfer", "write (host to device)");
    const ttml_profile_row *r = find_row(rows, "transfer", "read (device to host)");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(w->calls, 2);
    CU_ASSERT_EQUAL(w->bytes, 8000);
    CU_ASSERT_EQUAL(r->calls, 1);
    CU_ASSERT_EQUAL(r->bytes, 4000);
    const ttml_profile_row *s = find_row(rows, "sync", "synchronize");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->calls, 1);
    /* no step or phase zones: shares are of the outermost zones (here the op zones) */
    CU_ASSERT_DOUBLE_EQUAL(op->share, 1.0, 1e-9);
    CU_ASSERT_TRUE(w->share > 0 && w->share < 1.0);
    g_array_unref(rows);
    /* memory seen by the layer: a, b and the largest live set (a, b, one c) */
    CU_ASSERT_EQUAL(ttml_profiler_mem_peak(TTML_MEM_DRAM), 12000);
    ttml_tensor_unref(a);
    ttml_tensor_unref(b);
    ttml_shutdown();
}

/* ---- zones, the trace, the CSV, the summary ---- */

static const char *trace_check_py =
    "import json, sys\n"
    "t = json.load(open(sys.argv[1]))\n"
    "ev = t['traceEvents']\n"
    "x = [e for e in ev if e['ph'] == 'X']\n"
    "for e in x:\n"
    "    assert isinstance(e['ts'], (int, float)) and e['dur'] >= 0 and 'pid' in e and 'tid' in e, e\n"
    "def inside(a, b):\n"
    "    return b['ts'] <= a['ts'] and a['ts'] + a['dur'] <= b['ts'] + b['dur'] + 1e-3\n"
    "step = [e for e in x if e['cat'] == 'step']\n"
    "fwd = [e for e in x if e['cat'] == 'phase' and e['name'] == 'forward']\n"
    "op = [e for e in x if e['cat'] == 'op' and e['name'] == 'add']\n"
    "k = [e for e in x if e['cat'] == 'kernel']\n"
    "assert len(step) == 1 and len(fwd) == 1 and len(op) == 2 and len(k) == 2, (step, fwd, op, k)\n"
    "assert inside(fwd[0], step[0])\n"
    "for o in op: assert inside(o, fwd[0])\n"
    "for kk in k: assert any(inside(kk, o) for o in op) and kk['args']['bytes'] == 48\n"
    "c = [e for e in ev if e['ph'] == 'C']\n"
    "assert c and all('DRAM' in e['args'] for e in c)\n"
    "assert max(e['args']['DRAM'] for e in c) == 48\n"
    "print('trace ok', len(ev))\n";

static void make_step(void)
{
    GError *err = NULL;
    const int64_t shape[1] = {4};
    const float v[4] = {1, 2, 3, 4};
    ttml_zone_begin("step", "step");
    ttml_zone_begin("forward", "phase");
    ttml_tensor *a = ttml_tensor_from_floats(NULL, 1, shape, v, &err);
    ttml_tensor *b = ttml_add(a, a, &err);
    ttml_tensor *c = ttml_add(b, a, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_zone_end();
    ttml_zone_end();
    ttml_tensor_unref(a);
    ttml_tensor_unref(b);
    ttml_tensor_unref(c);
}

static void test_trace_json(void)
{
    GError *err = NULL;
    ttml_profiler_options o = {sizeof o, TRUE, 0};
    ttml_profiler_configure(&o);
    setup("profiler:cpu");
    make_step();
    ttml_shutdown();
    guint64 n_steps = 0;
    CU_ASSERT_TRUE(ttml_profiler_step_ms(&n_steps) > 0);
    CU_ASSERT_EQUAL(n_steps, 1);
    CU_ASSERT_EQUAL(ttml_profiler_events_dropped(), 0);
    /* step, phase, 2 ops, 2 kernels, 1 transfer, 3 allocs + 3 frees */
    CU_ASSERT_EQUAL(ttml_profiler_events_kept(), 13);
    char *path = ttml_test_tmp_path("t.json");
    CU_ASSERT_TRUE(ttml_profiler_write_trace(path, &err));
    TTML_ASSERT_NO_ERROR(err);
    if (g_file_test(PYTHON, G_FILE_TEST_IS_EXECUTABLE)) {
        char *argv[] = {PYTHON, "-c", (char *)trace_check_py, path, NULL};
        char *out = NULL;
        CU_ASSERT_EQUAL(run(argv, &out), 0);
        CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "trace ok"));
        g_free(out);
    } else {
        ttml_test_skip("%s not found, the trace was not parsed with a JSON parser", PYTHON);
    }
    /* a bad path is an IO error naming it */
    CU_ASSERT_FALSE(ttml_profiler_write_trace("/nonexistent-dir/t.json", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, "/nonexistent-dir/t.json");
    g_free(path);
}

static void test_event_cap_and_summary(void)
{
    GError *err = NULL;
    ttml_profiler_options o = {sizeof o, TRUE, 5};
    ttml_profiler_configure(&o);
    setup("profiler:cpu");
    make_step();
    make_step();
    ttml_shutdown();
    CU_ASSERT_EQUAL(ttml_profiler_events_kept(), 5);
    CU_ASSERT_EQUAL(ttml_profiler_events_dropped(), 2 * 13 - 5);
    /* the aggregates still count everything */
    GArray *rows = ttml_profiler_rows();
    const ttml_profile_row *op = find_row(rows, "op", "add");
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    CU_ASSERT_EQUAL(op->calls, 4);
    CU_ASSERT_EQUAL(op->bytes, 4 * 48);
    const ttml_profile_row *ph = find_row(rows, "phase", "forward");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ph);
    CU_ASSERT_EQUAL(ph->calls, 2);
    /* per step: two adds of 48 bytes and the 16-byte upload inside the phase */
    CU_ASSERT_EQUAL(ph->bytes, 2 * (2 * 48 + 16));
    const ttml_profile_row *st = find_row(rows, "step", "step");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_DOUBLE_EQUAL(st->share, 1.0, 1e-9);
    CU_ASSERT_TRUE(ph->share > 0 && ph->share <= 1.0);
    g_array_unref(rows);

    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ttml_profiler_print_summary(mem);
    fclose(mem);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "2 steps"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "kernels"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "ops (forward)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "event cap of 5 reached; 21 later events were dropped"));
    free(text);

    char *path = ttml_test_tmp_path("p.csv");
    CU_ASSERT_TRUE(ttml_profiler_write_csv(path, &err));
    TTML_ASSERT_NO_ERROR(err);
    char *csv = NULL;
    CU_ASSERT_TRUE(g_file_get_contents(path, &csv, NULL, NULL));
    CU_ASSERT_TRUE(g_str_has_prefix(csv, "section,name,calls,total_ms,mean_us,step_share,bytes,sim_ms\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\nop,add,4,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\nphase,forward,2,"));
    /* the step zones hold both steps' kernel bytes and all of the step time */
    CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\nstep,step,2,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(csv, ",1.000000,224,0.000000\n"));
    g_free(csv);
    g_free(path);
}

/* Work outside the step zones (validation) is in the totals, not in the shares. */
static void test_shares_in_steps(void)
{
    GError *err = NULL;
    ttml_profiler_configure(NULL);
    setup("profiler:cpu");
    make_step();
    const int64_t shape[1] = {100000};
    ttml_tensor *big = ttml_tensor_zeros(NULL, 1, shape, TTML_DTYPE_F32, &err);
    ttml_tensor *sum = ttml_add(big, big, &err); /* outside any step */
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(sum);
    ttml_tensor_unref(big);
    ttml_shutdown();
    GArray *rows = ttml_profiler_rows();
    guint64 n_steps = 0;
    double step_ms = ttml_profiler_step_ms(&n_steps);
    CU_ASSERT_EQUAL(n_steps, 1);
    const ttml_profile_row *add = find_row(rows, "op", "add");
    const ttml_profile_row *fwd = find_row(rows, "phase", "forward");
    const ttml_profile_row *st = find_row(rows, "step", "step");
    CU_ASSERT_PTR_NOT_NULL_FATAL(add);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fwd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(add->calls, 3);
    CU_ASSERT_EQUAL(add->bytes, 2 * 48 + 1200000);
    CU_ASSERT_DOUBLE_EQUAL(st->share, 1.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(st->total_ms, step_ms, 1e-9);
    /* the in-step adds are nested in the forward phase; the outside one is in the total only */
    CU_ASSERT_TRUE(add->share <= fwd->share);
    CU_ASSERT_TRUE(add->total_ms > add->share * step_ms);
    g_array_unref(rows);
}

/* ---- memory tracking ---- */

static void test_memory_snapshots(void)
{
    GError *err = NULL;
    ttml_profiler_configure(NULL);
    ttml_device *d = setup("cpu");
    guint64 base = ttml_device_mem_current(d, TTML_MEM_DRAM);
    ttml_memory_begin_capture();
    const int64_t s1[1] = {1000}, s2[1] = {500};
    ttml_tensor *a = ttml_tensor_zeros(d, 1, s1, TTML_DTYPE_F32, &err);
    ttml_memory_snapshot_take("after a");
    ttml_tensor *b = ttml_tensor_zeros(d, 1, s2, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(a);
    ttml_memory_snapshot_take("b, a freed");
    ttml_memory_end_capture("end");
    ttml_memory_snapshot_take("ignored: after the capture");
    const GPtrArray *snaps = ttml_memory_snapshots();
    CU_ASSERT_EQUAL_FATAL(snaps->len, 3);
    const ttml_memory_snapshot *x = g_ptr_array_index((GPtrArray *)snaps, 0);
    const ttml_memory_snapshot *y = g_ptr_array_index((GPtrArray *)snaps, 1);
    const ttml_memory_snapshot *z = g_ptr_array_index((GPtrArray *)snaps, 2);
    CU_ASSERT_STRING_EQUAL(x->name, "after a");
    CU_ASSERT_STRING_EQUAL(x->device, "cpu");
    CU_ASSERT_EQUAL(x->current[TTML_MEM_DRAM], base + 4000);
    CU_ASSERT_EQUAL(x->peak[TTML_MEM_DRAM], base + 4000);
    CU_ASSERT_EQUAL(y->current[TTML_MEM_DRAM], base + 2000);
    CU_ASSERT_EQUAL(y->peak[TTML_MEM_DRAM], base + 6000);
    CU_ASSERT_STRING_EQUAL(z->name, "end");
    CU_ASSERT_EQUAL(z->current[TTML_MEM_DRAM], base + 2000);
    CU_ASSERT_EQUAL(z->peak[TTML_MEM_DRAM], base + 2000); /* nothing happened since y */
    CU_ASSERT_EQUAL(x->current[TTML_MEM_L1], 0);
    /* the device's lifetime peak is back after the capture */
    CU_ASSERT_TRUE(ttml_device_mem_peak(d, TTML_MEM_DRAM) >= base + 6000);

    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ttml_memory_print_usage(mem);
    fclose(mem);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "after a"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "DRAM peak"));
    free(text);

    /* a new capture starts afresh */
    ttml_memory_begin_capture();
    CU_ASSERT_EQUAL(ttml_memory_snapshots()->len, 0);
    ttml_memory_end_capture("only");
    CU_ASSERT_EQUAL(ttml_memory_snapshots()->len, 1);
    ttml_profiler_keep_memory_snapshots(snaps);
    ttml_tensor_unref(b);
    ttml_shutdown();
    CU_ASSERT_EQUAL(ttml_memory_snapshots()->len, 0); /* freed at shutdown */
}

/* ---- the HTML report in a real browser ---- */

/* A report of three profiled steps with memory snapshots and loss series;
 * returns its path (g_free). */
static char *write_report(void)
{
    GError *err = NULL;
    ttml_profiler_configure(NULL);
    ttml_device *d = setup("profiler:cpu");
    for (int i = 0; i < 3; i++) make_step();
    ttml_memory_begin_capture();
    const int64_t s1[1] = {1000};
    ttml_tensor *a = ttml_tensor_zeros(d, 1, s1, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_memory_snapshot_take("forward");
    ttml_memory_end_capture("optimizer");
    ttml_profiler_keep_memory_snapshots(ttml_memory_snapshots());
    ttml_tensor_unref(a);
    ttml_shutdown();
    for (int i = 1; i <= 30; i++) {
        ttml_profiler_series_add("train_loss", i, 3.0 / i + 0.1);
        ttml_profiler_series_add("step_ms", i, 10.0 + (i % 3));
        if (i % 10 == 0) ttml_profiler_series_add("val_loss", i, 3.2 / i + 0.2);
    }
    char *path = ttml_test_tmp_path("r.html");
    CU_ASSERT_TRUE(ttml_profiler_write_report(path, "test <report>", &err));
    TTML_ASSERT_NO_ERROR(err);
    return path;
}

static void test_html_report(void)
{
    char *path = write_report();
    char *html = NULL;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(path, &html, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "test &lt;report&gt;"));
    /* self-contained: no scripts, no external resources */
    CU_ASSERT_PTR_NULL(strstr(html, "<script"));
    CU_ASSERT_PTR_NULL(strstr(html, "src="));
    CU_ASSERT_PTR_NULL(strstr(html, "href="));
    CU_ASSERT_PTR_NULL(strstr(html, "url("));
    g_free(html);
    g_free(path);
}

/* The report in headless chromium (DOM + screenshot): its own ctest test
 * (`test_profiler browser`), skipped (77) when the browser is absent. */
static void test_html_report_browser(void)
{
    if (!g_file_test(CHROMIUM, G_FILE_TEST_IS_EXECUTABLE)) {
        ttml_test_skip("%s not found (install with TTML_WITH_BROWSER=1 scripts/install-deps.sh)", CHROMIUM);
        return;
    }
    char *path = write_report();
    char *profile = ttml_test_tmp_path("chromium");
    CU_ASSERT_EQUAL_FATAL(g_mkdir_with_parents(profile, 0700), 0);
    char *user_dir = g_strdup_printf("--user-data-dir=%s", profile);
    char *url = g_strdup_printf("file://%s", path);
    char *png = ttml_test_tmp_path("r.png");
    char *shot = g_strdup_printf("--screenshot=%s", png);
    char *dom = NULL;
    char *argv_dom[] = {CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        user_dir, "--dump-dom", url, NULL};
    CU_ASSERT_EQUAL(run(argv_dom, &dom), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dom);
    /* the browser parsed the page: the DOM has the charts and tables */
    CU_ASSERT_PTR_NOT_NULL(strstr(dom, "<svg"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dom, "<polyline"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dom, "<table class=\"profile\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dom, "<table class=\"memory\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dom, "val_loss"));
    g_free(dom);
    char *argv_shot[] = {CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         user_dir, "--hide-scrollbars", "--window-size=1200,1600", shot, url, NULL};
    char *out = NULL;
    CU_ASSERT_EQUAL(run(argv_shot, &out), 0);
    g_free(out);
    char *bytes = NULL;
    gsize n = 0;
    CU_ASSERT_TRUE(g_file_get_contents(png, &bytes, &n, NULL));
    CU_ASSERT_TRUE(n > 10000);
    CU_ASSERT_TRUE(n > 8 && memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0);
    g_free(bytes);
    g_free(profile);
    g_free(user_dir);
    g_free(url);
    g_free(png);
    g_free(shot);
    g_free(path);
}

/* ---- ttml-run end to end ---- */

/* The tiny corpus.txt the end-to-end runs train on; its path (g_free). */
static char *write_corpus(void)
{
    GString *corpus = g_string_new(NULL);
    for (int i = 0; i < 200; i++) g_string_append(corpus, "To be, or not to be: that is the question.\n");
    char *path = ttml_test_tmp_path("corpus.txt");
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, corpus->str, -1, NULL));
    g_string_free(corpus, TRUE);
    return path;
}


static const char *run_check_py =
    "import json, sys\n"
    "t = json.load(open(sys.argv[1]))\n"
    "x = [e for e in t['traceEvents'] if e['ph'] == 'X']\n"
    "cats = {e['cat'] for e in x}\n"
    "assert {'step', 'phase', 'op', 'backward', 'module', 'kernel', 'transfer'} <= cats, cats\n"
    "phases = {e['name'] for e in x if e['cat'] == 'phase'}\n"
    "assert {'data', 'forward', 'backward', 'optimizer'} <= phases, phases\n"
    "assert len([e for e in x if e['cat'] == 'step']) == int(sys.argv[2])\n"
    "assert any(e['ph'] == 'C' for e in t['traceEvents'])\n"
    "def inside(a, b):\n"
    "    return b['ts'] <= a['ts'] and a['ts'] + a['dur'] <= b['ts'] + b['dur'] + 1e-3\n"
    "by = lambda c, n=None: [e for e in x if e['cat'] == c and (n is None or e['name'] == n)]\n"
    "step, fwd, bwd = by('step'), by('phase', 'forward'), by('phase', 'backward')\n"
    "mods, ops, ks, bn = by('module'), by('op'), by('kernel'), by('backward')\n"
    "# flame graph: step > forward phase > module > op > kernel, and step > backward phase > node > kernel\n"
    "f = fwd[0]; assert inside(f, step[0])\n"
    "m = [e for e in mods if inside(e, f)]; assert m\n"
    "o = [e for e in ops if any(inside(e, mm) for mm in m)]; assert o\n"
    "assert any(inside(k, oo) for k in ks for oo in o)\n"
    "b = [e for e in bn if inside(e, bwd[0])]; assert b\n"
    "assert any(inside(k, bb) for k in ks for bb in b)\n"
    "print('run trace ok', len(x))\n";

static void test_ttml_run(void)
{
    char *bin = g_build_filename(TTML_BUILD_DIR, "bin", "ttml-run", NULL);
    if (!g_file_test(bin, G_FILE_TEST_IS_EXECUTABLE)) {
        ttml_test_skip("%s not built", bin);
        g_free(bin);
        return;
    }
    char *corpus_path = write_corpus();
    char *cfg = ttml_test_tmp_path("tiny_gpt.yaml");
    const char *yaml = "training_config:\n"
                       "  seed: 7\n  batch_size: 2\n  max_steps: 4\n  learning_rate: 1.0e-3\n"
                       "  optimizer_type: adamw\n  model_type: nanogpt\n  model_path: \"\"\n"
                       "  eval_every: 2\n  val_batches: 1\n  log_interval: 1\n"
                       "  transformer_config:\n    num_heads: 2\n    embedding_dim: 16\n"
                       "    num_blocks: 1\n    max_sequence_length: 8\n    dropout_prob: 0.0\n"
                       "data_config:\n  type: text\n  path: corpus.txt\n  val_fraction: 0.1\n";
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(cfg, yaml, -1, NULL));
    char *trace = ttml_test_tmp_path("run.json"), *report = ttml_test_tmp_path("run.html"), *csv = ttml_test_tmp_path("run.csv");
    char *argv[] = {bin, cfg, "--device", "profiler:cpu", "--trace", trace, "--report", report,
                    "--profile-csv", csv, "--memory-report", "--quiet", NULL};
    char *out = NULL;
    CU_ASSERT_EQUAL(run(argv, &out), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    /* the memory report of the first step, then the summary */
    const char *mem = strstr(out, "Memory usage");
    CU_ASSERT_PTR_NOT_NULL(mem);
    CU_ASSERT_PTR_NOT_NULL(mem && strstr(mem, "\n  forward "));
    CU_ASSERT_PTR_NOT_NULL(mem && strstr(mem, "\n  backward "));
    CU_ASSERT_PTR_NOT_NULL(mem && strstr(mem, "\n  optimizer "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "== ttml profile (cpu) =="));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "4 steps"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "step phases"));
    g_free(out);
    char *text = NULL;
    CU_ASSERT_TRUE(g_file_get_contents(csv, &text, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "\nphase,forward,4,"));
    CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "\nphase,optimizer,4,"));
    CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "\nstep,step,4,"));
    g_free(text);
    CU_ASSERT_TRUE(g_file_get_contents(report, &text, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "val_loss (2)")); /* validated at steps 2 and 4 */
    CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "train_loss (4)"));
    CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "<td>forward</td>"));
    g_free(text);
    if (g_file_test(PYTHON, G_FILE_TEST_IS_EXECUTABLE)) {
        char *py[] = {PYTHON, "-c", (char *)run_check_py, trace, "4", NULL};
        char *pout = NULL;
        CU_ASSERT_EQUAL(run(py, &pout), 0);
        g_free(pout);
    }

    /* --trace alone implies the profiler layer */
    char *lr_cfg = g_build_filename(TTML_SOURCE_DIR, "configs", "linear_regression.yaml", NULL);
    char *argv2[] = {bin, lr_cfg, "--max-steps", "3", "--trace", trace, "--quiet", NULL};
    CU_ASSERT_EQUAL(run(argv2, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "3 steps"));
    g_free(out);
    CU_ASSERT_TRUE(g_file_get_contents(trace, &text, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "\"cat\":\"kernel\""));
    g_free(text);
    /* an unwritable output is an error (exit 1) */
    char *argv3[] = {bin, lr_cfg, "--max-steps", "1", "--profile-csv", "/nonexistent-dir/p.csv", "--quiet", NULL};
    CU_ASSERT_EQUAL(run(argv3, &out), 1);
    g_free(out);
    g_free(lr_cfg);
    g_free(trace);
    g_free(report);
    g_free(csv);
    g_free(cfg);
    g_free(corpus_path);
    g_free(bin);
}

static void test_ttsim_sim_time(void)
{
    GError *err = NULL;
    ttml_profiler_configure(NULL);
    ttml_init_options opts = {sizeof opts, NULL, NULL, TRUE, FALSE};
    CU_ASSERT_TRUE_FATAL(ttml_init(&opts, &err));
    ttml_device *d = ttml_context_open_device("profiler:ttsim", &err);
    if (!d) {
        ttml_test_skip("no ttsim driver (%s); simulated times not checked", err->message);
        g_clear_error(&err);
        ttml_shutdown();
        return;
    }
    make_step();
    ttml_device_stats st;
    gboolean has = ttml_device_get_stats(d, &st);
    ttml_shutdown();
    GArray *rows = ttml_profiler_rows();
    double sim = 0;
    for (guint i = 0; i < rows->len; i++) {
        const ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        if (strcmp(r->section, "kernel") == 0) sim += r->sim_ms;
    }
    if (has && st.sim_time_s > 0) CU_ASSERT_DOUBLE_EQUAL(sim, st.sim_time_s * 1e3, st.sim_time_s * 1e3 * 1e-6 + 1e-9);
    g_array_unref(rows);
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text ? strstr(text, needle) : NULL; p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* A tiny GPT on profiler:ttsim: the memory report has one row per snapshot
 * (the wrapped device's; no all-zero row for the cpu device ttsim opens),
 * and the HTML report labels the device, plots simulated device time beside
 * host time (4 points each), rings the 2 validation points and lays the
 * charts out over the page width. */
static void test_ttsim_report(void)
{
    char *bin = g_build_filename(TTML_BUILD_DIR, "bin", "ttml-run", NULL);
    char *corpus_path = write_corpus();
    char *cfg = ttml_test_tmp_path("tiny_gpt_ttsim.yaml");
    const char *yaml = "training_config:\n"
                       "  seed: 7\n  batch_size: 2\n  max_steps: 4\n  model_type: nanogpt\n  model_path: \"\"\n"
                       "  eval_every: 2\n  val_batches: 1\n  log_interval: 1\n"
                       "  transformer_config: {num_heads: 2, embedding_dim: 16, num_blocks: 1, "
                       "max_sequence_length: 8}\n"
                       "data_config:\n  path: corpus.txt\n";
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(cfg, yaml, -1, NULL));
    char *report = ttml_test_tmp_path("ttsim.html");
    char *argv[] = {bin, cfg, "--device", "profiler:ttsim:wormhole_b0,report=off", "--report", report,
                    "--memory-report", "--quiet", NULL};
    char *out = NULL;
    CU_ASSERT_EQUAL_FATAL(run(argv, &out), 0);
    const char *mem = strstr(out, "Memory usage");
    const char *end = mem ? strstr(mem, "\n\n") : NULL;
    char *table = mem ? g_strndup(mem, end ? (gsize)(end - mem) : strlen(mem)) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(table);
    CU_ASSERT_EQUAL(count_of(table, "\n  forward "), 1);
    CU_ASSERT_EQUAL(count_of(table, "\n  backward "), 1);
    CU_ASSERT_EQUAL(count_of(table, "\n  optimizer "), 1);
    CU_ASSERT_EQUAL(count_of(table, " profiler:ttsim:wormhole_b0,report=off "), 3);
    CU_ASSERT_EQUAL(count_of(table, "cpu"), 0);
    g_free(table);
    g_free(out);

    char *html = NULL;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(report, &html, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "Device: <strong class=\"device-label\">ttsim:wormhole_b0 (Tenstorrent "
                                        "wormhole_b0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "step time: host and simulated device"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "step_ms (host) (4)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "sim_ms (simulated device) (4)"));
    CU_ASSERT_EQUAL(count_of(html, "<circle class=\"val-marker\""), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "<title>val_loss at step 2: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "<title>val_loss at step 4: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, ".charts{display:grid"));
    CU_ASSERT_PTR_NOT_NULL(strstr(html, "svg.chart,svg.bars{width:100%"));
    CU_ASSERT_PTR_NULL(strstr(html, "max-width:1100px"));
    CU_ASSERT_EQUAL(count_of(html, "<td>profiler:ttsim:wormhole_b0,report=off</td>"), 3);
    CU_ASSERT_EQUAL(count_of(html, "class=\"tick device-label\""), 3);   /* each snapshot's bars */
    g_free(html);
    g_free(report);
    g_free(cfg);
    g_free(corpus_path);
    g_free(bin);
}

/* `test_profiler`: every case that runs here; `test_profiler browser`: the
 * report in chromium, exit 77 (skipped) without it. */
int main(int argc, char **argv)
{
    g_unsetenv("TTML_LAYERS");
    if (argc > 1 && strcmp(argv[1], "browser") == 0) {
        CU_TestInfo browser[] = {
            {"html_report_browser", test_html_report_browser},
            CU_TEST_INFO_NULL,
        };
        return ttml_test_run("profiler_browser", browser, NULL, NULL);
    }
    CU_TestInfo tests[] = {
        {"layer_open", test_layer_open},
        {"env_layers", test_env_layers},
        {"bit_identical", test_bit_identical},
        {"counts_and_bytes", test_counts_and_bytes},
        {"trace_json", test_trace_json},
        {"event_cap_and_summary", test_event_cap_and_summary},
        {"shares_in_steps", test_shares_in_steps},
        {"memory_snapshots", test_memory_snapshots},
        {"html_report", test_html_report},
        {"ttml_run", test_ttml_run},
        {"ttsim_sim_time", test_ttsim_sim_time},
        {"ttsim_report", test_ttsim_report},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("profiler", tests, NULL, NULL);
}
