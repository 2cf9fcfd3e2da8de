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

/* Suite init that loads the build tree's plugins (no TTML_PLUGIN_PATH) and
 * opens the cpu device; suite clean that shuts down. */
int ttml_test_init_cpu(void);
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
#ifndef TTML_SOURCE_DIR
#define TTML_SOURCE_DIR "."
#endif

#endif
