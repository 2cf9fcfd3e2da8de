/* tests/distributed/lm_loss.c - the mean cross-entropy loss of a language-model
 * checkpoint on one fixed batch, for test_checkpoint_shards.py to compare with
 * PyTorch on the same weights (read from the same file).
 * Usage: lm_loss CHECKPOINT B S ID... (B * (S + 1) token ids: row b holds
 * S + 1 ids; inputs are the first S, targets the last S). Prints
 * "loss %.9g" (fp32 forward on the cpu device, eval mode). Exit 1 on error. */
#include <ttml/ttml.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(GError *err)
{
    fprintf(stderr, "lm_loss: %s\n", err ? err->message : "bad arguments: CHECKPOINT B S ID...");
    g_clear_error(&err);
    return 1;
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    if (argc < 4) return fail(NULL);
    int B = atoi(argv[2]), S = atoi(argv[3]);
    if (B < 1 || S < 1 || argc != 4 + B * (S + 1)) return fail(NULL);
    if (!ttml_init(NULL, &err) || !ttml_context_open_device("cpu", &err)) return fail(err);
    ttml_lm *lm = ttml_lm_load(argv[1], &err);
    if (!lm) return fail(err);
    guint32 *in = g_new(guint32, (gsize)B * S), *tgt = g_new(guint32, (gsize)B * S);
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++) {
            in[b * S + s] = (guint32)atoi(argv[4 + b * (S + 1) + s]);
            tgt[b * S + s] = (guint32)atoi(argv[4 + b * (S + 1) + s + 1]);
        }
    int64_t shape[4] = {B, 1, 1, S};
    ttml_tensor *x = ttml_tensor_empty(NULL, 4, shape, TTML_DTYPE_U32, &err);
    ttml_tensor *y = x ? ttml_tensor_empty(NULL, 4, shape, TTML_DTYPE_U32, &err) : NULL;
    ttml_tensor *logits = NULL, *loss = NULL;
    gboolean ok = y && ttml_tensor_write(x, in, &err) && ttml_tensor_write(y, tgt, &err) &&
                  (logits = ttml_module_forward(lm->model, x, &err)) &&
                  (loss = ttml_cross_entropy_loss(logits, y, lm->vocab_size, TTML_REDUCE_MEAN, &err));
    if (ok) {
        float v = ttml_tensor_item(loss, &err);
        ok = err == NULL;
        if (ok) printf("loss %.9g\n", (double)v);
    }
    ttml_tensor_unref(loss);
    ttml_tensor_unref(logits);
    ttml_tensor_unref(y);
    ttml_tensor_unref(x);
    g_free(in);
    g_free(tgt);
    ttml_lm_free(lm);
    ttml_shutdown();
    return ok ? 0 : fail(err);
}
