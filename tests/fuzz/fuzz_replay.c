/* tests/fuzz/fuzz_replay.c - the replay main of the fuzz targets: runs
 * LLVMFuzzerTestOneInput once per file of the directories (or files) given,
 * in name order. Fails when an argument is missing or holds no input, so a
 * test that replays nothing cannot pass; sanitizer reports abort the run. */
#include "fuzz.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static gboolean replay_file(const char *path, guint *count)
{
    char *data = NULL;
    gsize len = 0;
    GError *err = NULL;
    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "fuzz_replay: %s\n", err->message);
        g_error_free(err);
        return FALSE;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    g_free(data);
    (*count)++;
    return TRUE;
}

static gboolean replay_dir(const char *dir, guint *count)
{
    GError *err = NULL;
    GDir *d = g_dir_open(dir, 0, &err);
    if (!d) {
        fprintf(stderr, "fuzz_replay: %s\n", err->message);
        g_error_free(err);
        return FALSE;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (const char *n; (n = g_dir_read_name(d));)
        if (n[0] != '.' && strcmp(n, "README") != 0) g_ptr_array_add(names, g_build_filename(dir, n, NULL));
    g_dir_close(d);
    if (names->len) qsort(names->pdata, names->len, sizeof(char *), cmp_names);
    gboolean ok = TRUE;
    for (guint i = 0; i < names->len && ok; i++)
        if (g_file_test(g_ptr_array_index(names, i), G_FILE_TEST_IS_REGULAR))
            ok = replay_file(g_ptr_array_index(names, i), count);
    g_ptr_array_free(names, TRUE);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...  (runs the fuzz target on every input)\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    guint count = 0;
    for (int i = 1; i < argc; i++) {
        gboolean ok = g_file_test(argv[i], G_FILE_TEST_IS_DIR) ? replay_dir(argv[i], &count)
                                                               : replay_file(argv[i], &count);
        if (!ok) return 1;
    }
    printf("%s: replayed %u input%s\n", argv[0], count, count == 1 ? "" : "s");
    return count ? 0 : 1;
}
