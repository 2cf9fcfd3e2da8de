#include "test_util.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

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
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

int ttml_test_init_cpu(void)
{
    GError *err = NULL;
    ttml_init_options opts = {sizeof opts, NULL, NULL, TRUE, FALSE};
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
