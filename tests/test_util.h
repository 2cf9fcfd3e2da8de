/* tests/test_util.h - shared helpers for the CUnit suites. */
#ifndef TTML_TEST_UTIL_H
#define TTML_TEST_UTIL_H

#include <CUnit/CUnit.h>
#include <ttml/ttml.h>
#include <stdio.h>
#include <string.h>

/* Run one suite of `tests` (NULL-terminated CU_TestInfo array); returns the
 * process exit code (0 when every assertion passed). `init` and `clean` may
 * be NULL. */
int ttml_test_run(const char *suite, CU_TestInfo *tests, CU_InitializeFunc init, CU_CleanupFunc clean);

/* The exit status of a test binary that could not run here (no browser, no
 * valgrind, ...): ctest reports it as skipped (SKIP_RETURN_CODE 77). */
#define TTML_TEST_SKIPPED 77

/* Mark the running case as skipped and say why (printf format). When every
 * case of a run skipped and none failed, ttml_test_run returns
 * TTML_TEST_SKIPPED; a case that may skip beside others that run belongs in
 * its own ctest test (a binary mode), so the skip stays visible. */
void ttml_test_skip(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* One temporary directory per test process, made on first use (a CUnit
 * fatal failure when it cannot be) and removed with its contents when
 * ttml_test_run returns (kept, and its path printed, when
 * TTML_KEEP_TEST_FILES is set). */
const char *ttml_test_tmp_dir(void);
/* `name` inside ttml_test_tmp_dir(); g_free() it. */
char *ttml_test_tmp_path(const char *name);

/* Run `tool` (a name in the build tree's bin/, or a path containing '/')
 * with the NULL-terminated `args` (may be NULL) in `cwd` (NULL: ours),
 * TTML_PLUGIN_PATH and TTML_REGISTRY_FORK unset, then the NULL-terminated
 * name/value pairs `env_extra` (may be NULL) set. *out and *err receive
 * the captured stdout/stderr (g_free them; either may be NULL to discard).
 * Returns the exit status, 128 + the signal when killed, or -1 (and a CUnit
 * failure) when the tool could not start. */
int ttml_test_run_tool(const char *tool, const char *const *args, const char *const *env_extra,
                       const char *cwd, char **out, char **err);

/* Suite init that loads the build tree's plugins (no TTML_PLUGIN_PATH) and
 * opens the cpu device; suite clean that shuts down. */
int ttml_test_init_cpu(void);
/* The same with `plugin_paths` (NULL-terminated, searched first) too. */
int ttml_test_init_cpu_paths(const char *const *plugin_paths);
int ttml_test_shutdown(void);

/* Assert no error and print it when there is one. */
#define TTML_ASSERT_NO_ERROR(err)                                                          \
    do {                                                                                   \
        if ((err) != NULL) {                                                               \
            fprintf(stderr, "\n%s:%d: unexpected error: %s\n", __FILE__, __LINE__,          \
                    (err)->message);                                                       \
            g_clear_error(&(err));                                                         \
            CU_FAIL_FATAL("unexpected error");                                             \
        }                                                                                  \
    } while (0)

/* Assert an error of `code` whose message contains `needle` (NULL = any), then clear it. */
#define TTML_ASSERT_ERROR(err, ecode, needle)                                              \
    do {                                                                                   \
        CU_ASSERT_PTR_NOT_NULL_FATAL(err);                                                 \
        const char *needle_ = (needle);                                                    \
        if ((err)->code != (int)(ecode) || (needle_ && !strstr((err)->message, needle_)))  \
            fprintf(stderr, "\n%s:%d: error %d '%s' (wanted %d containing '%s')\n",        \
                    __FILE__, __LINE__, (err)->code, (err)->message, (int)(ecode),         \
                    needle_ ? needle_ : "");                                               \
        CU_ASSERT_EQUAL((err)->code, (int)(ecode));                                        \
        if (needle_) CU_ASSERT_PTR_NOT_NULL(strstr((err)->message, needle_));              \
        g_clear_error(&(err));                                                             \
    } while (0)

/* The directory holding test data built by CMake (broken plugins etc.). */
#ifndef TTML_TEST_BINARY_DIR
#define TTML_TEST_BINARY_DIR "."
#endif
#ifndef TTML_BUILD_DIR
#define TTML_BUILD_DIR "."
#endif
#ifndef TTML_SOURCE_DIR
#define TTML_SOURCE_DIR "."
#endif

#endif
