/* tools/doctor/doctor_files.c - small file helpers of ttml-doctor. */
#include "doctor_files.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *ttml_doctor_real_path(const char *path)
{
    char *r = realpath(path, NULL);
    char *out = g_strdup(r ? r : path);
    free(r);
    return out;
}

gboolean ttml_doctor_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return FALSE;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* TRUE when both files exist and hold the same bytes. */
gboolean ttml_doctor_same_content(const char *a, const char *b)
{
    if (ttml_doctor_same_file(a, b)) return TRUE;
    char *ca = NULL, *cb = NULL;
    gsize na = 0, nb = 0;
    gboolean eq = g_file_get_contents(a, &ca, &na, NULL) && g_file_get_contents(b, &cb, &nb, NULL) && na == nb &&
                  memcmp(ca, cb, na) == 0;
    g_free(ca);
    g_free(cb);
    return eq;
}

gboolean ttml_doctor_is_dir(const char *path) { return path && g_file_test(path, G_FILE_TEST_IS_DIR); }
