#include "test_util.h"

#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static char *tmp_dir;      /* made on first use, removed by ttml_test_run */
static unsigned n_skipped; /* cases that called ttml_test_skip */

static void remove_tmp_dir(void)
{
    if (!tmp_dir) return;
    if (g_getenv("TTML_KEEP_TEST_FILES")) {
        printf("test files kept in %s\n", tmp_dir);
    } else {
        char *rm[] = {"/bin/rm", "-rf", tmp_dir, NULL};
        g_spawn_sync(NULL, rm, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, NULL, NULL);
    }
    g_clear_pointer(&tmp_dir, g_free);
}

int ttml_test_run(const char *suite_name, CU_TestInfo *tests, CU_InitializeFunc init,
                  CU_CleanupFunc clean)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_SuiteInfo suites[] = {
        {(char *)suite_name, init, clean, NULL, NULL, tests},
        CU_SUITE_INFO_NULL,
    };
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "cannot register suite %s: %s\n", suite_name, CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
                      CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    remove_tmp_dir();
    if (failed) return 1;
    return ran > 0 && n_skipped >= ran ? TTML_TEST_SKIPPED : 0;
}

void ttml_test_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("\n  SKIPPED: %s\n", why);
    g_free(why);
    n_skipped++;
}

const char *ttml_test_tmp_dir(void)
{
    if (!tmp_dir) {
        GError *err = NULL;
        tmp_dir = g_dir_make_tmp("ttml-test-XXXXXX", &err);
        if (!tmp_dir) {
            fprintf(stderr, "cannot make a temporary directory: %s\n", err->message);
            g_clear_error(&err);
            CU_FAIL_FATAL("no temporary directory");
        }
    }
    return tmp_dir;
}

char *ttml_test_tmp_path(const char *name) { return g_build_filename(ttml_test_tmp_dir(), name, NULL); }

int ttml_test_run_tool(const char *tool, const char *const *args, const char *const *env_extra,
                       const char *cwd, char **out, char **err_text)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, strchr(tool, '/') ? g_strdup(tool)
                                            : g_build_filename(TTML_BUILD_DIR, "bin", tool, NULL));
    for (const char *const *a = args; a && *a; a++) g_ptr_array_add(argv, g_strdup(*a));
    g_ptr_array_add(argv, NULL);
    char **env = g_get_environ();
    env = g_environ_unsetenv(env, "TTML_PLUGIN_PATH");
    env = g_environ_unsetenv(env, "TTML_REGISTRY_FORK");
    for (const char *const *e = env_extra; e && *e; e += 2) env = g_environ_setenv(env, e[0], e[1], TRUE);
    int wait_status = 0;
    GError *err = NULL;
    gboolean ok = g_spawn_sync(cwd, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, out, err_text,
                               &wait_status, &err);
    if (!ok) fprintf(stderr, "\ncannot run %s: %s\n", (char *)argv->pdata[0], err->message);
    g_clear_error(&err);
    g_strfreev(env);
    g_ptr_array_unref(argv);
    CU_ASSERT_TRUE(ok);
    if (!ok) return -1;
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

int ttml_test_init_cpu(void)
{
    return ttml_test_init_cpu_paths(NULL);
}

int ttml_test_init_cpu_paths(const char *const *plugin_paths)
{
    GError *err = NULL;
    ttml_init_options opts = {sizeof opts, plugin_paths, NULL, TRUE, FALSE};
    if (!ttml_init(&opts, &err) || !ttml_context_open_device("cpu", &err)) {
        fprintf(stderr, "test init failed: %s\n", err ? err->message : "?");
        g_clear_error(&err);
        return 1;
    }
    ttml_set_seed(1234);
    return 0;
}

int ttml_test_shutdown(void)
{
    ttml_shutdown();
    return 0;
}
