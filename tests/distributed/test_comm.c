/* tests/test_comm.c - the communicator collective suite, run by both
 * backends: `test_comm` runs it on local worlds of 1, 2 and 3 ranks (threads)
 * plus the local failure cases; `test_comm --mpi` runs it on this process's
 * rank of the mpirun job (ctest launches it with mpirun -np 1, 2, 3, over
 * shared memory and over TCP on loopback). Sizes: 0, 1, odd, and 25 MB.
 * `test_comm --mpi-loader` checks the mpi plugin loads RTLD_LOCAL (libmpi
 * not visible globally) and initialises MPI as a one-rank singleton. */
#include "test_util.h"

#include <dlfcn.h>
#include <stdlib.h>

#define BIG (25u * 1024u * 1024u / 4u) /* 25 MB of f32 */

static const size_t sizes[] = {0, 1, 7, 1001, BIG};

/* Counts failed checks; thread-safe (CUnit asserts are not). */
static gint n_failed;
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                        \
            g_atomic_int_inc(&n_failed);                                                  \
        }                                                                                 \
    } while (0)
#define CHECK_OK(ok, err)                                                                 \
    do {                                                                                  \
        CHECK((ok) && !(err), "%s", (err) ? (err)->message : "failed without an error");  \
        g_clear_error(&(err));                                                            \
    } while (0)

static void check_allreduce_f32(ttml_comm *c, size_t n)
{
    int r = ttml_comm_rank(c), p = ttml_comm_size(c);
    GError *err = NULL;
    float *a = g_new(float, MAX(n, 1)), *b = g_new(float, MAX(n, 1));
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)((r + 1) * (int)(i % 13));
        b[i] = (float)(r * 1000 + (int)(i % 7));
    }
    /* two outstanding non-blocking all-reduces, waited in reverse order */
    ttml_comm_request *ra = ttml_comm_iallreduce(c, a, n, TTML_DTYPE_F32, TTML_COMM_SUM, &err);
    CHECK_OK(ra != NULL, err);
    ttml_comm_request *rb = ttml_comm_iallreduce(c, b, n, TTML_DTYPE_F32, TTML_COMM_MAX, &err);
    CHECK_OK(rb != NULL, err);
    CHECK_OK(ttml_comm_wait(rb, &err), err);
    CHECK_OK(ttml_comm_wait(ra, &err), err);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += a[i] != (float)(p * (p + 1) / 2 * (int)(i % 13));
        bad += b[i] != (float)((p - 1) * 1000 + (int)(i % 7));
    }
    CHECK(bad == 0, "f32 all-reduce of %zu: %zu wrong values on rank %d/%d", n, bad, r, p);
    /* blocking */
    for (size_t i = 0; i < n; i++) a[i] = 1.0f;
    CHECK_OK(ttml_comm_allreduce(c, a, n, TTML_DTYPE_F32, TTML_COMM_SUM, &err), err);
    for (size_t i = 0; i < n; i++) bad += a[i] != (float)p;
    CHECK(bad == 0, "blocking all-reduce of %zu on rank %d/%d", n, r, p);
    g_free(a);
    g_free(b);
}

static void check_allreduce_bf16(ttml_comm *c, size_t n)
{
    int r = ttml_comm_rank(c), p = ttml_comm_size(c);
    GError *err = NULL;
    guint16 *a = g_new(guint16, MAX(n, 1)), *b = g_new(guint16, MAX(n, 1));
    for (size_t i = 0; i < n; i++) {
        a[i] = ttml_f32_to_bf16((float)((r + 1) * (int)(i % 5)));
        b[i] = ttml_f32_to_bf16((float)(r * 16 - (int)(i % 3)));
    }
    CHECK_OK(ttml_comm_allreduce(c, a, n, TTML_DTYPE_BF16, TTML_COMM_SUM, &err), err);
    CHECK_OK(ttml_comm_allreduce(c, b, n, TTML_DTYPE_BF16, TTML_COMM_MAX, &err), err);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += ttml_bf16_to_f32(a[i]) != (float)(p * (p + 1) / 2 * (int)(i % 5));
        bad += ttml_bf16_to_f32(b[i]) != (float)((p - 1) * 16 - (int)(i % 3));
    }
    CHECK(bad == 0, "bf16 all-reduce of %zu: %zu wrong values on rank %d/%d", n, bad, r, p);
    g_free(a);
    g_free(b);
}

static void check_gather_scatter(ttml_comm *c, size_t n)
{
    int r = ttml_comm_rank(c), p = ttml_comm_size(c);
    GError *err = NULL;
    float *send = g_new(float, MAX(n * (size_t)p, 1)), *recv = g_new(float, MAX(n * (size_t)p, 1));
    for (size_t i = 0; i < n; i++) send[i] = (float)(r * 100 + (int)(i % 50));
    CHECK_OK(ttml_comm_allgather(c, send, recv, n, TTML_DTYPE_F32, &err), err);
    size_t bad = 0;
    for (int q = 0; q < p; q++)
        for (size_t i = 0; i < n; i++) bad += recv[(size_t)q * n + i] != (float)(q * 100 + (int)(i % 50));
    CHECK(bad == 0, "all-gather of %zu: %zu wrong on rank %d/%d", n, bad, r, p);
    for (size_t j = 0; j < n * (size_t)p; j++) send[j] = (float)((r + 1) * (int)(j % 11));
    CHECK_OK(ttml_comm_reduce_scatter(c, send, recv, n, TTML_DTYPE_F32, TTML_COMM_SUM, &err), err);
    for (size_t i = 0; i < n; i++)
        bad += recv[i] != (float)(p * (p + 1) / 2 * (int)(((size_t)r * n + i) % 11));
    CHECK(bad == 0, "reduce-scatter of %zu: %zu wrong on rank %d/%d", n, bad, r, p);
    g_free(send);
    g_free(recv);
}

static void check_broadcast_p2p(ttml_comm *c, size_t n)
{
    int r = ttml_comm_rank(c), p = ttml_comm_size(c), root = p - 1;
    GError *err = NULL;
    unsigned char *buf = g_malloc(MAX(n, 1)), *in = g_malloc(MAX(n, 1));
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(r == root ? i * 7 + 3 : 0);
    CHECK_OK(ttml_comm_broadcast(c, buf, n, root, &err), err);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += buf[i] != (unsigned char)(i * 7 + 3);
    CHECK(bad == 0, "broadcast of %zu bytes: %zu wrong on rank %d/%d", n, bad, r, p);
    if (p > 1) {
        /* a ring with non-blocking receive and send */
        int next = (r + 1) % p, prev = (r + p - 1) % p;
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(r + i);
        ttml_comm_request *rr = ttml_comm_irecv(c, in, n, prev, 5, &err);
        CHECK_OK(rr != NULL, err);
        ttml_comm_request *rs = ttml_comm_isend(c, buf, n, next, 5, &err);
        CHECK_OK(rs != NULL, err);
        CHECK_OK(ttml_comm_wait(rs, &err), err);
        CHECK_OK(ttml_comm_wait(rr, &err), err);
        for (size_t i = 0; i < n; i++) bad += in[i] != (unsigned char)(prev + i);
        CHECK(bad == 0, "ring send/recv of %zu bytes: %zu wrong on rank %d/%d", n, bad, r, p);
        /* blocking: 0 -> 1 */
        if (r == 0) CHECK_OK(ttml_comm_send(c, buf, n, 1, 9, &err), err);
        if (r == 1) {
            CHECK_OK(ttml_comm_recv(c, in, n, 0, 9, &err), err);
            for (size_t i = 0; i < n; i++) bad += in[i] != (unsigned char)i;
            CHECK(bad == 0, "blocking send/recv of %zu bytes", n);
        }
    }
    g_free(buf);
    g_free(in);
}

static void check_split(ttml_comm *c)
{
    int r = ttml_comm_rank(c), p = ttml_comm_size(c);
    GError *err = NULL;
    /* even and odd ranks, ordered by descending world rank */
    ttml_comm *sub = ttml_comm_split(c, r % 2, -r, &err);
    CHECK_OK(sub != NULL, err);
    if (!sub) return;
    int n_same = (p - r % 2 + 1) / 2, higher = 0;
    for (int q = r + 2; q < p; q += 2) higher++;
    CHECK(ttml_comm_size(sub) == n_same, "split size %d, want %d", ttml_comm_size(sub), n_same);
    CHECK(ttml_comm_rank(sub) == higher, "split rank %d, want %d", ttml_comm_rank(sub), higher);
    float v = (float)r;
    CHECK_OK(ttml_comm_allreduce(sub, &v, 1, TTML_DTYPE_F32, TTML_COMM_SUM, &err), err);
    float want = 0;
    for (int q = r % 2; q < p; q += 2) want += (float)q;
    CHECK(v == want, "split all-reduce %g, want %g", v, want);
    ttml_comm_free(sub);
}

/* The whole suite on one rank of a world. */
static void run_suite(ttml_comm *c)
{
    GError *err = NULL;
    CHECK(ttml_comm_size(c) >= 1 && ttml_comm_rank(c) >= 0 && ttml_comm_rank(c) < ttml_comm_size(c),
          "rank %d size %d", ttml_comm_rank(c), ttml_comm_size(c));
    CHECK_OK(ttml_comm_barrier(c, &err), err);
    for (size_t k = 0; k < G_N_ELEMENTS(sizes); k++) {
        check_allreduce_f32(c, sizes[k]);
        check_allreduce_bf16(c, sizes[k]);
        if (sizes[k] < BIG) {
            check_gather_scatter(c, sizes[k]);
            check_broadcast_p2p(c, sizes[k]);
        }
    }
    check_gather_scatter(c, BIG / 4);
    check_broadcast_p2p(c, BIG);
    check_allreduce_f32(c, 1001); /* a smaller one after BIG: comm_local reuses its grown scratch */
    check_split(c);
    CHECK_OK(ttml_comm_barrier(c, &err), err);
}

static gpointer suite_thread(gpointer data)
{
    run_suite(data);
    return NULL;
}

static void run_local(int n)
{
    GError *err = NULL;
    ttml_comm *ranks[3];
    CU_ASSERT_TRUE_FATAL(ttml_comm_local_world(n, ranks, &err));
    TTML_ASSERT_NO_ERROR(err);
    GThread *th[3];
    for (int i = 0; i < n; i++) th[i] = g_thread_new("rank", suite_thread, ranks[i]);
    for (int i = 0; i < n; i++) g_thread_join(th[i]);
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(ttml_comm_rank(ranks[i]), i);
        CU_ASSERT_EQUAL(ttml_comm_size(ranks[i]), n);
        CU_ASSERT_STRING_EQUAL(ttml_comm_backend(ranks[i]), "local");
        ttml_comm_free(ranks[i]);
    }
    CU_ASSERT_EQUAL(g_atomic_int_get(&n_failed), 0);
}

static void test_local_1(void) { run_local(1); }
static void test_local_2(void) { run_local(2); }
static void test_local_3(void) { run_local(3); }

static gpointer abort_thread(gpointer data)
{
    g_usleep(20000);
    ttml_comm_abort(data, 3);
    return NULL;
}

/* A rank that aborts or never arrives ends the others' waits with an error
 * naming it, within the timeout. */
static void test_local_failures(void)
{
    GError *err = NULL;
    ttml_comm *ranks[2];
    CU_ASSERT_TRUE_FATAL(ttml_comm_local_world(2, ranks, &err));
    GThread *t = g_thread_new("abort", abort_thread, ranks[1]);
    CU_ASSERT_FALSE(ttml_comm_barrier(ranks[0], &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DEVICE, "rank 1 aborted with code 3");
    g_thread_join(t);
    ttml_comm_free(ranks[0]);
    ttml_comm_free(ranks[1]);

    ttml_comm_options o = {sizeof o, 0.2};
    ttml_comm *three[3];
    CU_ASSERT_TRUE_FATAL(ttml_comm_world("local", 3, &o, three, &err));
    gint64 t0 = g_get_monotonic_time();
    float v = 1;
    /* rank 0 alone: ranks 1 and 2 never arrive */
    CU_ASSERT_FALSE(ttml_comm_allreduce(three[0], &v, 1, TTML_DTYPE_F32, TTML_COMM_SUM, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DEVICE, "waiting for rank(s) 1, 2");
    CU_ASSERT(g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC);
    /* the world is poisoned: later calls fail at once, naming the first failure */
    CU_ASSERT_FALSE(ttml_comm_barrier(three[1], &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DEVICE, "failed earlier");
    for (int i = 0; i < 3; i++) ttml_comm_free(three[i]);

    /* argument checks */
    CU_ASSERT_TRUE_FATAL(ttml_comm_local_world(1, ranks, &err));
    CU_ASSERT_FALSE(ttml_comm_allreduce(ranks[0], &v, 1, TTML_DTYPE_U32, TTML_COMM_SUM, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DTYPE, "f32 and bf16");
    CU_ASSERT_FALSE(ttml_comm_send(ranks[0], &v, 4, 0, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "peer 0");
    CU_ASSERT_FALSE(ttml_comm_world("nosuch", 1, NULL, ranks + 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "local");
    ttml_comm_free(ranks[0]);
}

static void test_mpi_world(void)
{
    GError *err = NULL;
    ttml_comm *c = NULL;
    CU_ASSERT_TRUE_FATAL(ttml_comm_world("mpi", 1, NULL, &c, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(ttml_comm_backend(c), "mpi");
    const char *np = getenv("OMPI_COMM_WORLD_SIZE");
    if (np) CU_ASSERT_EQUAL(ttml_comm_size(c), atoi(np));
    run_suite(c);
    CU_ASSERT_EQUAL(g_atomic_int_get(&n_failed), 0);
    ttml_comm_free(c);
}

/* The loader opened the mpi plugin RTLD_LOCAL: libmpi is loaded but its
 * symbols are not in the global scope, and MPI still initialises. */
static void test_mpi_loader(void)
{
    GError *err = NULL;
    const GPtrArray *recs = ttml_registry_records();
    const ttml_plugin_record *mpi = NULL;
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (g_strcmp0(r->name, "comm_mpi") == 0) mpi = r;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(mpi);
    CU_ASSERT_EQUAL(mpi->status, TTML_PLUGIN_OK);
    CU_ASSERT_EQUAL(mpi->kind, TTML_PLUGIN_COMM);
    /* libmpi is loaded (the plugin's dependency) but not in the global scope */
    void *lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_NOLOAD);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lib);
    CU_ASSERT_PTR_NULL(dlsym(RTLD_DEFAULT, "MPI_Init_thread"));
    int (*initialized)(int *);
    *(void **)&initialized = dlsym(lib, "MPI_Initialized");
    CU_ASSERT_PTR_NOT_NULL_FATAL(initialized);
    int flag = 1;
    initialized(&flag);
    CU_ASSERT_EQUAL(flag, 0); /* loading the plugin does not start MPI */
    /* MPI initialises from there (Open MPI then opens its own components
     * RTLD_GLOBAL itself, so the global scope is not checked afterwards) */
    ttml_comm *c = NULL;
    CU_ASSERT_TRUE_FATAL(ttml_comm_world("mpi", 1, NULL, &c, &err));
    TTML_ASSERT_NO_ERROR(err);
    initialized(&flag);
    CU_ASSERT_EQUAL(flag, 1);
    dlclose(lib);
    CU_ASSERT_EQUAL(ttml_comm_size(c), 1);
    CU_ASSERT_EQUAL(ttml_comm_rank(c), 0);
    /* two-rank worlds are made by mpirun, not inside one process */
    ttml_comm *two[2];
    CU_ASSERT_FALSE(ttml_comm_world("mpi", 2, NULL, two, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "mpirun -np N");
    ttml_comm_free(c);
}

/* Plugins built for ABI 1.0 and 1.1 still load next to the 1.2 comm plugins. */
static void test_older_abi_plugins(void)
{
    GError *err = NULL;
    ttml_shutdown();
    const char *paths[] = {TTML_TEST_BINARY_DIR "/fixtures/older", NULL};
    ttml_init_options o = {sizeof o, paths, NULL, TRUE, FALSE};
    CU_ASSERT_TRUE_FATAL(ttml_init(&o, &err));
    TTML_ASSERT_NO_ERROR(err);
    int found = 0;
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (!r->name) continue;
        if (g_str_has_prefix(r->name, "fx_abi1")) {
            found++;
            CU_ASSERT_EQUAL(r->status, TTML_PLUGIN_OK);
            CU_ASSERT_EQUAL(r->abi_minor, (guint)(r->name[7] - '0'));
        }
        if (g_strcmp0(r->name, "comm_local") == 0) CU_ASSERT_EQUAL(r->status, TTML_PLUGIN_OK);
    }
    CU_ASSERT_EQUAL(found, 2);
    CU_ASSERT_PTR_NOT_NULL(ttml_op_find("fx_op_fx_abi10"));
    CU_ASSERT_PTR_NOT_NULL(ttml_op_find("fx_op_fx_abi11"));
    ttml_shutdown();
    CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
}

int main(int argc, char **argv)
{
    static CU_TestInfo local_tests[] = {
        {"local_1_rank", test_local_1},     {"local_2_ranks", test_local_2},
        {"local_3_ranks", test_local_3},    {"local_failures", test_local_failures},
        {"older_abi_plugins", test_older_abi_plugins},
        CU_TEST_INFO_NULL,
    };
    static CU_TestInfo mpi_tests[] = {{"mpi_world", test_mpi_world}, CU_TEST_INFO_NULL};
    static CU_TestInfo loader_tests[] = {{"mpi_loader", test_mpi_loader}, CU_TEST_INFO_NULL};
    if (argc > 1 && strcmp(argv[1], "--mpi") == 0)
        return ttml_test_run("comm_mpi", mpi_tests, ttml_test_init_cpu, ttml_test_shutdown);
    if (argc > 1 && strcmp(argv[1], "--mpi-loader") == 0)
        return ttml_test_run("comm_mpi_loader", loader_tests, ttml_test_init_cpu, ttml_test_shutdown);
    return ttml_test_run("comm_local", local_tests, ttml_test_init_cpu, ttml_test_shutdown);
}
