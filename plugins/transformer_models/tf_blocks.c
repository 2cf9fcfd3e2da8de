/* plugins/transformer_models/tf_blocks.c - leaf layers (linear, LayerNorm/RMSNorm,
 * embedding table) and the two transformer blocks.
 *
 * gpt2 block (pre-LN):
 *   x1 = x + dropout(proj(merge(sdpa_causal(split(qkv(ln1(x)))))))
 *   y  = x1 + dropout(mlp.proj(gelu(mlp.fc(ln2(x1)))))
 * llama block:
 *   x1 = x + dropout(o(merge(sdpa_causal_gqa(rope(q(n)), rope(k(n)), v(n))))), n = attn_norm(x)
 *   y  = x1 + dropout(w2(swiglu(w1(m), w3(m)))), m = mlp_norm(x1)
 *
 * The same code serves training (kv == NULL) and cached decoding (kv != NULL,
 * see tf_cache.c): the new keys/values are concatenated to the cached ones and
 * sdpa's causal offset (query i sees keys j <= i + Skv - Sq) does the rest.
 */
#include "tf_internal.h"

#include <math.h>

/* ---- leaf layers ---- */

typedef enum { LEAF_LINEAR, LEAF_LAYERNORM, LEAF_RMSNORM, LEAF_EMBEDDING, LEAF_ROW_LINEAR } leaf_kind;

typedef struct {
    leaf_kind kind;
    ttml_tensor *w, *b;   /* borrowed from the module's parameter list */
    float eps;
    ttml_comm *tp;        /* row-parallel linear: the TP group (borrowed) */
} tf_leaf;

/* Row-parallel linear: the partial products summed over the TP group, then
 * the (replicated) bias once. */
static ttml_tensor *row_linear(tf_leaf *l, ttml_tensor *x, GError **error)
{
    ttml_tensor *part = ttml_linear(x, l->w, NULL, error);
    ttml_tensor *sum = part ? ttml_tp_reduce(part, l->tp, error) : NULL;
    ttml_tensor_unref(part);
    if (!sum || !l->b) return sum;
    ttml_tensor *y = ttml_add(sum, l->b, error);
    ttml_tensor_unref(sum);
    return y;
}

static ttml_tensor *leaf_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    tf_leaf *l = m->priv;
    switch (l->kind) {
    case LEAF_LINEAR: return ttml_linear(x, l->w, l->b, error);
    case LEAF_LAYERNORM: return ttml_layernorm(x, l->w, l->b, l->eps, error);
    case LEAF_RMSNORM: return ttml_rmsnorm(x, l->w, l->eps, error);
    case LEAF_EMBEDDING: return ttml_embedding(x, l->w, error);
    case LEAF_ROW_LINEAR: return row_linear(l, x, error);
    }
    return NULL;
}

static void leaf_finalize(ttml_module *m) { g_free(m->priv); }

static const ttml_module_class leaf_classes[] = {
    {.type = "linear", .forward = leaf_forward, .finalize = leaf_finalize},
    {.type = "layernorm", .forward = leaf_forward, .finalize = leaf_finalize},
    {.type = "rmsnorm", .forward = leaf_forward, .finalize = leaf_finalize},
    {.type = "embedding", .forward = leaf_forward, .finalize = leaf_finalize},
    {.type = "row_parallel_linear", .forward = leaf_forward, .finalize = leaf_finalize},
};

ttml_tensor *tf_param_tensor(int ndim, const int64_t *shape, float std, float fill, GError **error)
{
    size_t n = 1;
    gboolean overflow = FALSE;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && n > G_MAXSIZE / sizeof(float) / (size_t)shape[i])) overflow = TRUE;
        else n *= (size_t)shape[i];
    }
    float *v = overflow ? NULL : g_try_new(float, n ? n : 1);
    if (!v) {
        char s[96], bytes[48];
        if (overflow) g_strlcpy(bytes, "more than 2^64", sizeof bytes);
        else g_snprintf(bytes, sizeof bytes, "%" G_GSIZE_FORMAT, n * sizeof(float));
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                    "a parameter of shape %s needs %s bytes of host memory to initialise, which cannot be "
                    "allocated; make the model smaller (embedding_dim, num_blocks, vocab_size)",
                    ttml_shape_str(ndim, shape, s, sizeof s), bytes);
        return NULL;
    }
    if (std > 0.0f) {
        ttml_rng_fill_normal(v, n, 0.0f, std);
    } else {
        for (size_t i = 0; i < n; i++) v[i] = fill;
    }
    ttml_tensor *t = ttml_tensor_from_floats(NULL, ndim, shape, v, error);
    g_free(v);
    return t;
}

/* A leaf module holding w (and b); takes over the caller's references. */
static ttml_module *leaf_new(leaf_kind kind, ttml_tensor *w, ttml_tensor *b, float eps)
{
    tf_leaf *l = g_new0(tf_leaf, 1);
    l->kind = kind;
    l->w = w;
    l->b = b;
    l->eps = eps;
    ttml_module *m = ttml_module_new(&leaf_classes[kind], l);
    ttml_module_add_param(m, "weight", w);
    ttml_tensor_unref(w);
    if (b) {
        ttml_module_add_param(m, "bias", b);
        ttml_tensor_unref(b);
    }
    return m;
}

ttml_module *tf_linear_new(const tf_config *c, int64_t in, int64_t out, gboolean bias, float std, tf_split split,
                           GError **error)
{
    int64_t ws[2] = {out, in};
    gboolean tp = c && c->tp && split != TF_REPLICATED;
    ttml_tensor *w = tf_param_tensor(2, ws, std, 0.0f, error);
    if (w && tp) /* the full weight is drawn on every rank, then cut */
        w = tf_shard_param(c, w, split == TF_ROW ? 1 : 0, split == TF_COLUMN_QKV ? 3 : 1, "linear weight", error);
    if (!w) return NULL;
    ttml_tensor *b = NULL;
    if (bias && !(b = tf_param_tensor(1, &out, 0.0f, 0.0f, error))) {
        ttml_tensor_unref(w);
        return NULL;
    }
    if (b && tp && split != TF_ROW &&
        !(b = tf_shard_param(c, b, 0, split == TF_COLUMN_QKV ? 3 : 1, "linear bias", error))) {
        ttml_tensor_unref(w);
        return NULL;
    }
    ttml_module *m = leaf_new(tp && split == TF_ROW ? LEAF_ROW_LINEAR : LEAF_LINEAR, w, b, 0.0f);
    ((tf_leaf *)m->priv)->tp = tp ? c->tp : NULL;
    return m;
}

ttml_module *tf_norm_new(int64_t dim, gboolean rms, gboolean bias, float eps, GError **error)
{
    ttml_tensor *w = tf_param_tensor(1, &dim, 0.0f, 1.0f, error);
    if (!w) return NULL;
    ttml_tensor *b = NULL;
    if (!rms && bias && !(b = tf_param_tensor(1, &dim, 0.0f, 0.0f, error))) {
        ttml_tensor_unref(w);
        return NULL;
    }
    return leaf_new(rms ? LEAF_RMSNORM : LEAF_LAYERNORM, w, b, eps);
}

ttml_module *tf_embedding_new(int64_t rows, int64_t dim, float std, const tf_config *vocab_parallel,
                              GError **error)
{
    int64_t ws[2] = {rows, dim};
    ttml_tensor *w = tf_param_tensor(2, ws, std, 0.0f, error);
    if (w && vocab_parallel) w = tf_shard_param(vocab_parallel, w, 0, 1, "embedding table", error);
    return w ? leaf_new(LEAF_EMBEDDING, w, NULL, 0.0f) : NULL;
}

ttml_tensor *tf_leaf_weight(ttml_module *m) { return ((tf_leaf *)m->priv)->w; }
ttml_tensor *tf_leaf_bias(ttml_module *m) { return ((tf_leaf *)m->priv)->b; }

/* A parameterless container ("attn", "mlp") that only groups children. */
static const ttml_module_class group_class = {.type = "group"};

/* ---- blocks ---- */

typedef struct {
    tf_config cfg;
    /* borrowed leaves (the module tree owns them) */
    ttml_module *norm1, *norm2;
    ttml_module *qkv, *q, *k, *v, *o;    /* gpt2: qkv + o(=attn.proj); llama: q k v o */
    ttml_module *fc, *proj;              /* gpt2 MLP                                 */
    ttml_module *w1, *w2, *w3;           /* llama SwiGLU MLP                         */
} tf_block;

static ttml_tensor *block_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    return tf_block_run(m, x, NULL, 0, error);
}

static void block_finalize(ttml_module *m) { g_free(m->priv); }

static const ttml_module_class gpt2_block_class = {
    .type = "gpt2_block", .forward = block_forward, .finalize = block_finalize};
static const ttml_module_class llama_block_class = {
    .type = "llama_block", .forward = block_forward, .finalize = block_finalize};

static ttml_module *add_leaf(ttml_module *parent, const char *name, ttml_module *leaf)
{
    if (leaf) ttml_module_add_child(parent, name, leaf);
    return leaf;
}

ttml_module *tf_block_new(const tf_config *cfg, GError **error)
{
    const int64_t E = cfg->embedding_dim, I = cfg->intermediate_dim;
    const float std = 0.02f, std_out = 0.02f / sqrtf(2.0f * (float)cfg->num_blocks);
    tf_block *b = g_new0(tf_block, 1);
    b->cfg = *cfg;
    gboolean gpt2 = cfg->arch == TF_ARCH_GPT2;
    ttml_module *m = ttml_module_new(gpt2 ? &gpt2_block_class : &llama_block_class, b);
    ttml_module *attn = ttml_module_new(&group_class, NULL);
    ttml_module *mlp = ttml_module_new(&group_class, NULL);
    gboolean ok;
    if (gpt2) {
        ok = (b->norm1 = add_leaf(m, "ln1", tf_norm_new(E, FALSE, cfg->bias, cfg->norm_eps, error))) &&
             (b->qkv = add_leaf(attn, "qkv", tf_linear_new(cfg, E, 3 * E, cfg->bias, std, TF_COLUMN_QKV, error))) &&
             (b->o = add_leaf(attn, "proj", tf_linear_new(cfg, E, E, cfg->bias, std_out, TF_ROW, error)));
        if (ok) ttml_module_add_child(m, "attn", ttml_module_ref(attn));
        ok = ok &&
             (b->norm2 = add_leaf(m, "ln2", tf_norm_new(E, FALSE, cfg->bias, cfg->norm_eps, error))) &&
             (b->fc = add_leaf(mlp, "fc", tf_linear_new(cfg, E, I, cfg->bias, std, TF_COLUMN, error))) &&
             (b->proj = add_leaf(mlp, "proj", tf_linear_new(cfg, I, E, cfg->bias, std_out, TF_ROW, error)));
    } else {
        const int64_t KV = cfg->num_groups * cfg->head_dim;
        ok = (b->norm1 = add_leaf(m, "attn_norm", tf_norm_new(E, TRUE, FALSE, cfg->norm_eps, error))) &&
             (b->q = add_leaf(attn, "q", tf_linear_new(cfg, E, E, FALSE, std, TF_COLUMN, error))) &&
             (b->k = add_leaf(attn, "k", tf_linear_new(cfg, E, KV, FALSE, std, TF_COLUMN, error))) &&
             (b->v = add_leaf(attn, "v", tf_linear_new(cfg, E, KV, FALSE, std, TF_COLUMN, error))) &&
             (b->o = add_leaf(attn, "o", tf_linear_new(cfg, E, E, FALSE, std_out, TF_ROW, error)));
        if (ok) ttml_module_add_child(m, "attn", ttml_module_ref(attn));
        ok = ok &&
             (b->norm2 = add_leaf(m, "mlp_norm", tf_norm_new(E, TRUE, FALSE, cfg->norm_eps, error))) &&
             (b->w1 = add_leaf(mlp, "w1", tf_linear_new(cfg, E, I, FALSE, std, TF_COLUMN, error))) &&
             (b->w2 = add_leaf(mlp, "w2", tf_linear_new(cfg, I, E, FALSE, std_out, TF_ROW, error))) &&
             (b->w3 = add_leaf(mlp, "w3", tf_linear_new(cfg, E, I, FALSE, std, TF_COLUMN, error)));
    }
    if (ok) ttml_module_add_child(m, "mlp", ttml_module_ref(mlp));
    ttml_module_unref(attn);
    ttml_module_unref(mlp);
    if (!ok) {
        ttml_module_unref(m);
        return NULL;
    }
    return m;
}

/* dst = dst ++ add along the sequence dim (2) of [B, G, S, D]; takes `add`. */
static gboolean kv_append(ttml_tensor **dst, ttml_tensor *add, GError **error)
{
    if (!*dst) {
        *dst = add;
        return TRUE;
    }
    ttml_tensor *parts[2] = {*dst, add};
    ttml_tensor *cat = ttml_concat(parts, 2, 2, error);
    ttml_tensor_unref(add);
    if (!cat) return FALSE;
    ttml_tensor_unref(*dst);
    *dst = cat;
    return TRUE;
}

/* Causal attention of q [B,H,T,D] over k, v [B,G,T,D] (and the cache). Takes
 * the references of k and v. */
static ttml_tensor *attend(ttml_tensor *q, ttml_tensor *k, ttml_tensor *v, tf_kv *kv, GError **error)
{
    if (!kv) {
        ttml_tensor *a = ttml_sdpa(q, k, v, TRUE, error);
        ttml_tensor_unref(k);
        ttml_tensor_unref(v);
        return a;
    }
    if (!kv_append(&kv->k, k, error)) {
        ttml_tensor_unref(v);
        return NULL;
    }
    if (!kv_append(&kv->v, v, error)) return NULL;
    return ttml_sdpa(q, kv->k, kv->v, TRUE, error);
}

/* The block's dropout of x (active in training); takes x (NULL = an earlier
 * step failed). */
static ttml_tensor *block_dropout(ttml_module *m, tf_block *b, ttml_tensor *x, GError **error)
{
    ttml_tensor *d = x ? ttml_dropout(x, b->cfg.dropout_prob, m->training, error) : NULL;
    ttml_tensor_unref(x);
    return d;
}

/* Attention of q over k, v (and the cache), out-projection and dropout; takes
 * q, k and v (any NULL = an earlier step failed with *error set). */
static ttml_tensor *attend_out(ttml_module *m, tf_block *b, ttml_tensor *q, ttml_tensor *k,
                               ttml_tensor *v, tf_kv *kv, GError **error)
{
    ttml_tensor *a = NULL;
    if (q && k && v) {
        a = attend(q, k, v, kv, error);
        k = v = NULL;
    }
    ttml_tensor_unref(q);
    ttml_tensor_unref(k);
    ttml_tensor_unref(v);
    ttml_tensor *merged = a ? ttml_merge_heads(a, error) : NULL;
    ttml_tensor_unref(a);
    ttml_tensor *o = merged ? ttml_module_forward(b->o, merged, error) : NULL;
    ttml_tensor_unref(merged);
    return block_dropout(m, b, o, error);
}

static ttml_tensor *gpt2_attention(ttml_module *m, tf_block *b, ttml_tensor *h, tf_kv *kv,
                                   GError **error)
{
    const int64_t E = b->cfg.embedding_dim / b->cfg.tp_size;   /* this rank's heads */
    const int H = (int)(b->cfg.num_heads / b->cfg.tp_size);
    ttml_tensor *qkv = ttml_module_forward(b->qkv, h, error);
    if (!qkv) return NULL;
    ttml_tensor *parts[3] = {NULL, NULL, NULL};
    const int64_t sizes[3] = {E, E, E};
    gboolean ok = ttml_split(qkv, -1, sizes, 3, parts, error);
    ttml_tensor_unref(qkv);
    ttml_tensor *q = ok ? ttml_split_heads(parts[0], H, error) : NULL;
    ttml_tensor *k = q ? ttml_split_heads(parts[1], H, error) : NULL;
    ttml_tensor *v = k ? ttml_split_heads(parts[2], H, error) : NULL;
    for (int i = 0; i < 3; i++) ttml_tensor_unref(parts[i]);
    return attend_out(m, b, q, k, v, kv, error);
}

/* Linear projection, split into `heads` heads, optional RoPE at pos. */
static ttml_tensor *project_heads(ttml_module *lin, ttml_tensor *h, int heads, gboolean rope,
                                  float theta, int64_t pos, GError **error)
{
    ttml_tensor *p = ttml_module_forward(lin, h, error);
    ttml_tensor *s = p ? ttml_split_heads(p, heads, error) : NULL;
    ttml_tensor_unref(p);
    if (!s || !rope) return s;
    ttml_tensor *r = ttml_rope(s, theta, pos, error);
    ttml_tensor_unref(s);
    return r;
}

static ttml_tensor *llama_attention(ttml_module *m, tf_block *b, ttml_tensor *h, tf_kv *kv,
                                    int64_t pos, GError **error)
{
    const int H = (int)(b->cfg.num_heads / b->cfg.tp_size), G = (int)(b->cfg.num_groups / b->cfg.tp_size);
    const float theta = b->cfg.theta;
    ttml_tensor *q = project_heads(b->q, h, H, TRUE, theta, pos, error);
    ttml_tensor *k = q ? project_heads(b->k, h, G, TRUE, theta, pos, error) : NULL;
    ttml_tensor *v = k ? project_heads(b->v, h, G, FALSE, theta, pos, error) : NULL;
    return attend_out(m, b, q, k, v, kv, error);
}

static ttml_tensor *gpt2_mlp(ttml_module *m, tf_block *b, ttml_tensor *h, GError **error)
{
    ttml_tensor *f = ttml_module_forward(b->fc, h, error);
    ttml_tensor *g = f ? ttml_gelu(f, error) : NULL;
    ttml_tensor_unref(f);
    ttml_tensor *p = g ? ttml_module_forward(b->proj, g, error) : NULL;
    ttml_tensor_unref(g);
    return block_dropout(m, b, p, error);
}

static ttml_tensor *llama_mlp(ttml_module *m, tf_block *b, ttml_tensor *h, GError **error)
{
    ttml_tensor *gate = ttml_module_forward(b->w1, h, error);
    ttml_tensor *up = gate ? ttml_module_forward(b->w3, h, error) : NULL;
    ttml_tensor *s = up ? ttml_swiglu(gate, up, error) : NULL;
    ttml_tensor_unref(gate);
    ttml_tensor_unref(up);
    ttml_tensor *p = s ? ttml_module_forward(b->w2, s, error) : NULL;
    ttml_tensor_unref(s);
    return block_dropout(m, b, p, error);
}

/* x + f(norm(x)) for the attention (which = 0) or MLP (which = 1) half. */
static ttml_tensor *residual(ttml_module *m, tf_block *b, ttml_tensor *x, int which, tf_kv *kv,
                             int64_t pos, GError **error)
{
    ttml_tensor *h = ttml_module_forward(which == 0 ? b->norm1 : b->norm2, x, error);
    if (h && b->cfg.tp) { /* copy to the TP region: one all-reduce of dh in backward */
        ttml_tensor *c = ttml_tp_copy(h, b->cfg.tp, error);
        ttml_tensor_unref(h);
        h = c;
    }
    if (!h) return NULL;
    gboolean gpt2 = b->cfg.arch == TF_ARCH_GPT2;
    ttml_tensor *f;
    if (which == 0)
        f = gpt2 ? gpt2_attention(m, b, h, kv, error) : llama_attention(m, b, h, kv, pos, error);
    else
        f = gpt2 ? gpt2_mlp(m, b, h, error) : llama_mlp(m, b, h, error);
    ttml_tensor_unref(h);
    if (!f) return NULL;
    ttml_tensor *y = ttml_add(x, f, error);
    ttml_tensor_unref(f);
    return y;
}

ttml_tensor *tf_block_run(ttml_module *m, ttml_tensor *x, tf_kv *kv, int64_t pos, GError **error)
{
    tf_block *b = m->priv;
    if (x->ndim != 4 || x->shape[1] != 1 || x->shape[3] != b->cfg.embedding_dim) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "%s: the block input must be [B, 1, S, %" G_GINT64_FORMAT "], got %s",
                    m->klass->type, b->cfg.embedding_dim, ttml_shape_str(x->ndim, x->shape, s, sizeof s));
        return NULL;
    }
    ttml_tensor *x1 = residual(m, b, x, 0, kv, pos, error);
    if (!x1) return NULL;
    ttml_tensor *y = residual(m, b, x1, 1, NULL, pos, error);
    ttml_tensor_unref(x1);
    return y;
}
