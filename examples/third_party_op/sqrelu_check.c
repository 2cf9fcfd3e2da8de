/* sqrelu_check.c - checks the sqrelu plugin through libttml, the way ttml
 * itself would use it:
 *   1. forward on the cpu driver against relu(x)^2 computed here in double;
 *   2. backward of loss = sum(w * sqrelu(x)) against the closed form
 *      2 relu(x) w and against central finite differences of the loss;
 *   3. the same forward and backward on the ttsim driver, which has no
 *      sqrelu kernel: the core runs the cpu kernel on host copies. ttsim
 *      stores bf16 like the hardware, so there the tolerance is bf16's
 *      (2^-8 relative, a few roundings) and finite differences are skipped.
 *
 *   sqrelu_check path/to/libttml_sqrelu.so      (exit 0 when all pass)
 */
#include <ttml/ttml.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 24 };

static int failures;

static void expect(int ok, const char *what, int i, double got, double want)
{
    if (ok) return;
    fprintf(stderr, "sqrelu_check: %s[%d] = %.6g, expected %.6g\n", what, i, got, want);
    failures++;
}

static void die(const char *what, GError *err)
{
    fprintf(stderr, "sqrelu_check: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

/* loss = sum(w * sqrelu(x)) (a new reference). */
static ttml_tensor *loss_of(ttml_tensor *x, ttml_tensor *w, GError **error)
{
    ttml_tensor *y = ttml_op_call("sqrelu", &x, 1, NULL, 0, error);
    if (!y) return NULL;
    ttml_tensor *wy = ttml_mul(w, y, error);
    ttml_tensor_unref(y);
    if (!wy) return NULL;
    ttml_tensor *loss = ttml_sum(wy, error);
    ttml_tensor_unref(wy);
    return loss;
}

/* rel: relative tolerance of the values (storage precision of the device);
 * fd: also compare with finite differences. */
static void check_on(const char *device, const float *xv, const float *wv, double rel, gboolean fd_check)
{
    GError *err = NULL;
    if (!ttml_context_open_device(device, &err)) die(device, err);
    printf("device %s: sqrelu kernel %s\n", device,
           ttml_kernel_exists(device, "sqrelu_fwd") ? "native" : "missing (cpu fallback)");
    const int64_t shape[2] = {4, N / 4};
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 2, shape, xv, &err);
    ttml_tensor *w = x ? ttml_tensor_from_floats(NULL, 2, shape, wv, &err) : NULL;
    if (!w) die("tensors", err);

    /* 1. forward */
    ttml_tensor *y = ttml_op_call("sqrelu", &x, 1, NULL, 0, &err);
    if (!y) die("sqrelu forward", err);
    float yv[N];
    if (!ttml_tensor_to_floats(y, yv, &err)) die("read y", err);
    for (int i = 0; i < N; i++) {
        double r = xv[i] > 0 ? xv[i] : 0.0;
        expect(fabs(yv[i] - r * r) <= rel * (1 + r * r), "forward", i, yv[i], r * r);
    }
    ttml_tensor_unref(y);

    /* 2. backward */
    ttml_tensor_set_requires_grad(x, TRUE);
    ttml_tensor *loss = loss_of(x, w, &err);
    if (!loss || !ttml_backward(loss, NULL, FALSE, &err)) die("backward", err);
    ttml_tensor_unref(loss);
    float gv[N];
    if (!x->grad || !ttml_tensor_to_floats(x->grad, gv, &err)) die("read x.grad", err);
    gboolean was = ttml_set_grad_enabled(FALSE);
    const float eps = 1e-2f;
    for (int i = 0; i < N; i++) {
        double closed = xv[i] > 0 ? 2.0 * xv[i] * wv[i] : 0.0;
        expect(fabs(gv[i] - closed) <= rel * (1 + fabs(closed)), "grad (closed form)", i, gv[i], closed);
        if (!fd_check) continue;
        float xp[N], xm[N];
        for (int j = 0; j < N; j++) xp[j] = xm[j] = xv[j];
        xp[i] += eps;
        xm[i] -= eps;
        ttml_tensor *tp = ttml_tensor_from_floats(NULL, 2, shape, xp, &err);
        ttml_tensor *tm = tp ? ttml_tensor_from_floats(NULL, 2, shape, xm, &err) : NULL;
        ttml_tensor *lp = tm ? loss_of(tp, w, &err) : NULL;
        ttml_tensor *lm = lp ? loss_of(tm, w, &err) : NULL;
        if (!lm) die("finite differences", err);
        double fd = ((double)ttml_tensor_item(lp, NULL) - ttml_tensor_item(lm, NULL)) / (2.0 * eps);
        expect(fabs(gv[i] - fd) <= 2e-3 * (1 + fabs(fd)), "grad (finite differences)", i, gv[i], fd);
        ttml_tensor_unref(tp);
        ttml_tensor_unref(tm);
        ttml_tensor_unref(lp);
        ttml_tensor_unref(lm);
    }
    ttml_set_grad_enabled(was);
    ttml_tensor_unref(x);
    ttml_tensor_unref(w);
    ttml_reset_graph();
    ttml_context_clear_device();
}

static gboolean has_driver(const char *name)
{
    const GPtrArray *fs = ttml_registry_features();
    for (guint i = 0; i < fs->len; i++) {
        const ttml_feature *f = g_ptr_array_index(fs, i);
        if (f->kind == TTML_FEATURE_DRIVER && g_strcmp0(f->name, name) == 0) return TRUE;
    }
    return FALSE;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s path/to/libttml_sqrelu.so\n", argv[0]);
        return 2;
    }
    const char *files[] = {argv[1], NULL};
    ttml_init_options o = {sizeof o, NULL, files, FALSE, FALSE, FALSE};
    GError *err = NULL;
    if (!ttml_init(&o, &err)) die("ttml_init", err);
    if (!ttml_op_find("sqrelu")) {
        fprintf(stderr, "sqrelu_check: the op 'sqrelu' is not registered; see ttml-inspect --plugin %s\n", argv[1]);
        return 1;
    }
    /* x away from the kink at 0, where finite differences are not the derivative */
    float xv[N], wv[N];
    ttml_set_seed(7);
    for (int i = 0; i < N; i++) {
        float u = ttml_rng_uniform() * 1.9f + 0.1f;   /* [0.1, 2.0) */
        xv[i] = (i % 3 == 0) ? -u : u;
        wv[i] = ttml_rng_uniform() * 2.0f - 1.0f;
    }
    check_on("cpu", xv, wv, 1e-5, TRUE);
    /* the fallback: ttsim (when installed) has no sqrelu kernel */
    if (has_driver("ttsim")) check_on("ttsim", xv, wv, 3.0 / 256, FALSE);
    else printf("device ttsim: not installed, fallback not checked\n");
    ttml_shutdown();
    if (failures) {
        fprintf(stderr, "sqrelu_check: %d check(s) failed\n", failures);
        return 1;
    }
    printf("sqrelu_check: forward, backward and finite differences agree\n");
    return 0;
}
