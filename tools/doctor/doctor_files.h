/* tools/doctor/doctor_files.h - small file helpers of ttml-doctor. */
#ifndef TTML_DOCTOR_FILES_H
#define TTML_DOCTOR_FILES_H

#include <glib.h>

/* realpath(path), or a copy of path when it cannot be resolved; g_free. */
char *ttml_doctor_real_path(const char *path);
/* TRUE when a and b are the same file (device and inode). */
gboolean ttml_doctor_same_file(const char *a, const char *b);
/* TRUE when both files exist and hold the same bytes. */
gboolean ttml_doctor_same_content(const char *a, const char *b);
/* TRUE when path (may be NULL) is a directory. */
gboolean ttml_doctor_is_dir(const char *path);

#endif
