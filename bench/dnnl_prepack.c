/* bench/dnnl_prepack.c - would keeping GPT-2 124M's bf16 weights pre-packed
 * in oneDNN's blocked layout save CPU time? (issue 14: "weights converted
 * once per step, or kept pre-packed between steps")
 *
 * For each weight shape of the gpt2_124m case (M = 512 tokens; per block qkv
 * 768->2304, proj 768->768, fc 768->3072, fc2 3072->768, x12; the tied head
 * 768->50304) and both products that read the weight (forward x @ W^T: NT;
 * dX dy @ W: NN), the same oneDNN bf16 matmul as the cpu driver's
 * (drivers/cpu/cpu_dnnl.c: plain strided bf16 weights, brgemm copies them
 * into its blocked layout inside each call) against a primitive created with
 * format_tag any for the weights, run on weights reordered into that layout
 * beforehand, plus the reorder itself (done once per layout per optimizer
 * step when pre-packed). CPU time of the process (both OpenMP threads), so
 * the figures hold on a loaded machine. Per step with one micro-batch (the
 * gpt2_124m case) each weight is read once per layout, so pre-packing saves
 * (plain - packed) - reorder per layout; with A micro-batches per step,
 * A (plain - packed) - reorder.
 *
 * Built and run by bench/run.sh (case dnnl_prepack; needs libdnnl-dev).
 * Prints per product and the total:
 *   bench case=dnnl_prepack weight=qkv layout=NT plain_ms=... packed_ms=... reorder_ms=...
 *   bench case=dnnl_prepack plain_ms_per_step=... saving_ms_per_step=... (A = 1)
 *         saving_ms_per_step_accum2=...
 */
#define _GNU_SOURCE
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x)                                                                                 \
    do {                                                                                         \
        dnnl_status_t s_ = (x);                                                                  \
        if (s_ != dnnl_success) {                                                                \
            fprintf(stderr, "dnnl_prepack: %s failed (status %d)\n", #x, (int)s_);               \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A matmul primitive; *wq (when not NULL) gets the weights layout it chose. */
static dnnl_primitive_t matmul(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                               const dnnl_memory_desc_t *c, dnnl_memory_desc_t *wq)
{
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    CHECK(dnnl_matmul_desc_init(&desc, a, b, NULL, c));
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    if (wq) *wq = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_primitive_create(&prim, pd));
    dnnl_primitive_desc_destroy(pd);
    return prim;
}

/* CPU seconds per call of prim (one warm-up, then the best of 2 x reps). */
static double cpu_per_call(dnnl_primitive_t prim, int n_args, const dnnl_exec_arg_t *args, int reps)
{
    CHECK(dnnl_primitive_execute(prim, stream, n_args, args));
    CHECK(dnnl_stream_wait(stream));
    double best = 1e30;
    for (int round = 0; round < 2; round++) {
        const double t0 = cpu_now();
        for (int r = 0; r < reps; r++) CHECK(dnnl_primitive_execute(prim, stream, n_args, args));
        CHECK(dnnl_stream_wait(stream));
        const double t = (cpu_now() - t0) / reps;
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    double plain, packed, reorder;   /* CPU seconds per call */
} timing;

/* C[M, N] = A[M, K] @ B[K, N], B transposed in memory (NT) or not (NN). */
static timing product(const char *name, int64_t M, int64_t K, int64_t N, int nt, int reps)
{
    dnnl_memory_desc_t ma, mb, mc, many, mq;
    dnnl_dims_t da = {M, K}, sa = {K, 1}, db = {K, N}, sb = {nt ? 1 : N, nt ? K : 1}, dc = {M, N}, sc = {N, 1};
    CHECK(dnnl_memory_desc_init_by_strides(&ma, 2, da, dnnl_bf16, sa));
    CHECK(dnnl_memory_desc_init_by_strides(&mb, 2, db, dnnl_bf16, sb));
    CHECK(dnnl_memory_desc_init_by_strides(&mc, 2, dc, dnnl_f32, sc));
    CHECK(dnnl_memory_desc_init_by_tag(&many, 2, db, dnnl_bf16, dnnl_format_tag_any));
    dnnl_primitive_t plain = matmul(&ma, &mb, &mc, NULL), packed = matmul(&ma, &many, &mc, &mq);
    const size_t qbytes = dnnl_memory_desc_get_size(&mq);
    void *A = aligned_alloc(64, (size_t)(M * K) * 2), *B = aligned_alloc(64, (size_t)(K * N) * 2);
    void *C = aligned_alloc(64, (size_t)(M * N) * 4), *BQ = aligned_alloc(64, (qbytes + 63) / 64 * 64);
    memset(A, 0x3c, (size_t)(M * K) * 2);
    memset(B, 0x3b, (size_t)(K * N) * 2);
    memset(C, 0, (size_t)(M * N) * 4);
    dnnl_memory_t xa, xb, xc, xq;
    CHECK(dnnl_memory_create(&xa, &ma, engine, A));
    CHECK(dnnl_memory_create(&xb, &mb, engine, B));
    CHECK(dnnl_memory_create(&xc, &mc, engine, C));
    CHECK(dnnl_memory_create(&xq, &mq, engine, BQ));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &mb, engine, &mq, engine, NULL));
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_primitive_desc_destroy(rpd);

    timing t;
    const dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, xb}, {DNNL_ARG_TO, xq}};
    t.reorder = cpu_per_call(reorder, 2, ra, reps);
    const dnnl_exec_arg_t pa[3] = {{DNNL_ARG_SRC, xa}, {DNNL_ARG_WEIGHTS, xb}, {DNNL_ARG_DST, xc}};
    const dnnl_exec_arg_t qa[3] = {{DNNL_ARG_SRC, xa}, {DNNL_ARG_WEIGHTS, xq}, {DNNL_ARG_DST, xc}};
    t.plain = cpu_per_call(plain, 3, pa, reps);
    t.packed = cpu_per_call(packed, 3, qa, reps);
    printf("bench case=dnnl_prepack weight=%s layout=%s M=%lld K=%lld N=%lld plain_ms=%.2f packed_ms=%.2f "
           "reorder_ms=%.2f\n",
           name, nt ? "NT" : "NN", (long long)M, (long long)K, (long long)N, t.plain * 1e3, t.packed * 1e3,
           t.reorder * 1e3);
    fflush(stdout);
    dnnl_memory_destroy(xa);
    dnnl_memory_destroy(xb);
    dnnl_memory_destroy(xc);
    dnnl_memory_destroy(xq);
    dnnl_primitive_destroy(plain);
    dnnl_primitive_destroy(packed);
    dnnl_primitive_destroy(reorder);
    free(A);
    free(B);
    free(C);
    free(BQ);
    return t;
}

int main(void)
{
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const int64_t tokens = 512;
    const struct {
        const char *name;
        int64_t in, out;
        int count;
    } w[] = {{"qkv", 768, 2304, 12}, {"proj", 768, 768, 12}, {"fc", 768, 3072, 12},
             {"fc2", 3072, 768, 12}, {"head", 768, 50304, 1}};
    double plain = 0, save1 = 0, save2 = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        const int reps = w[i].out > 10000 ? 3 : 10;
        const timing f = product(w[i].name, tokens, w[i].in, w[i].out, 1, reps);   /* x @ W^T */
        const timing d = product(w[i].name, tokens, w[i].out, w[i].in, 0, reps);   /* dy @ W  */
        const double gain = (f.plain - f.packed) + (d.plain - d.packed), cost = f.reorder + d.reorder;
        plain += (f.plain + d.plain) * w[i].count;
        save1 += (gain - cost) * w[i].count;
        save2 += (2 * gain - cost) * w[i].count;
    }
    printf("bench case=dnnl_prepack plain_ms_per_step=%.1f saving_ms_per_step=%.1f saving_ms_per_step_accum2=%.1f "
           "(CPU ms, weight products of one gpt2_124m step; < 0: pre-packing costs more than it saves)\n",
           plain * 1e3, save1 * 1e3, save2 * 1e3);
    return 0;
}
