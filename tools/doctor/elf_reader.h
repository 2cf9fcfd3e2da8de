/* tools/doctor/elf_reader.h - the dynamic section and the build id of an
 * ELF object, read from the file (ttml-doctor's view of a library). */
#ifndef TTML_DOCTOR_ELF_READER_H
#define TTML_DOCTOR_ELF_READER_H

#include <glib.h>

typedef struct {
    char *path;
    char *error;            /* set when the file is not a usable ELF object */
    int cls, data;          /* ELFCLASS32/64, ELFDATA2LSB/MSB                */
    guint16 type, machine;
    char *soname, *runpath, *rpath;
    char *build_id;         /* hex, or NULL                                  */
    GPtrArray *needed;      /* char*                                         */
} ttml_elf_info;

/* Read `path`; never NULL: a file that is not a usable ELF object comes
 * back with `error` set (and the rest empty). Free with ttml_elf_free. */
ttml_elf_info *ttml_elf_read(const char *path);
void ttml_elf_free(ttml_elf_info *e);
/* TRUE when `path` is an ELF file of class `cls` and machine `machine`. */
gboolean ttml_elf_compatible(const char *path, int cls, int machine);

#endif
