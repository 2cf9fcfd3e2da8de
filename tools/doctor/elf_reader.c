/* tools/doctor/elf_reader.c - reads what the dynamic loader reads from an
 * ELF file (class, machine, SONAME, RPATH/RUNPATH, NEEDED, build id) with
 * plain reads: no libelf, no mapping, bounds checked. */
#include "elf_reader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ttml_elf_free(ttml_elf_info *e)
{
    if (!e) return;
    g_free(e->path);
    g_free(e->error);
    g_free(e->soname);
    g_free(e->runpath);
    g_free(e->rpath);
    g_free(e->build_id);
    if (e->needed) g_ptr_array_unref(e->needed);
    g_free(e);
}

static guint64 rd(const guint8 *p, int n, int data)
{
    guint64 v = 0;
    for (int i = 0; i < n; i++) v |= (guint64)p[data == ELFDATA2MSB ? n - 1 - i : i] << (8 * i);
    return v;
}

/* Read `len` bytes at `off`, or NULL when out of the file. */
static guint8 *read_at(int fd, guint64 size, guint64 off, guint64 len)
{
    if (len == 0 || len > (64u << 20) || off > size || len > size - off) return NULL;
    guint8 *buf = g_malloc(len);
    guint64 got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            g_free(buf);
            return NULL;
        }
        got += (guint64)n;
    }
    return buf;
}

typedef struct { guint64 vaddr, offset, filesz; } load_seg;

static gboolean vaddr_to_offset(const GArray *loads, guint64 vaddr, guint64 *off)
{
    for (guint i = 0; i < loads->len; i++) {
        const load_seg *s = &g_array_index(loads, load_seg, i);
        if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz) {
            *off = s->offset + (vaddr - s->vaddr);
            return TRUE;
        }
    }
    return FALSE;
}

static char *strtab_get(const guint8 *tab, guint64 size, guint64 off)
{
    if (!tab || off >= size) return NULL;
    const guint8 *end = memchr(tab + off, '\0', size - off);
    return end ? g_strdup((const char *)tab + off) : NULL;
}

/* The hex GNU build id in a PT_NOTE segment of `size` bytes, or NULL. */
static char *note_build_id(const guint8 *note, guint64 size, int data)
{
    for (guint64 q = 0; q + 12 <= size;) {
        guint64 namesz = rd(note + q, 4, data), descsz = rd(note + q + 4, 4, data);
        guint64 ntype = rd(note + q + 8, 4, data);
        guint64 name_at = q + 12, desc_at = name_at + ((namesz + 3) & ~3ull);
        if (namesz > size || descsz > size || desc_at + descsz > size) break;
        if (ntype == NT_GNU_BUILD_ID && namesz == 4 && memcmp(note + name_at, "GNU", 4) == 0) {
            GString *hex = g_string_new(NULL);
            for (guint64 j = 0; j < descsz; j++) g_string_append_printf(hex, "%02x", note[desc_at + j]);
            return g_string_free(hex, FALSE);
        }
        q = desc_at + ((descsz + 3) & ~3ull);
    }
    return NULL;
}

/* NEEDED, SONAME, RUNPATH and RPATH from the dynamic section into `e`. */
static void read_dyn_strings(ttml_elf_info *e, const guint8 *dyn, guint64 dyn_size, const guint8 *strtab,
                             guint64 strsz)
{
    gboolean is64 = e->cls == ELFCLASS64;
    guint64 entsz = is64 ? 16 : 8;
    for (guint64 q = 0; q + entsz <= dyn_size; q += entsz) {
        gint64 tag = (gint64)(is64 ? rd(dyn + q, 8, e->data) : rd(dyn + q, 4, e->data));
        guint64 val = is64 ? rd(dyn + q + 8, 8, e->data) : rd(dyn + q + 4, 4, e->data);
        if (tag == DT_NULL) break;
        char *s = (tag == DT_NEEDED || tag == DT_SONAME || tag == DT_RUNPATH || tag == DT_RPATH)
                      ? strtab_get(strtab, strsz, val) : NULL;
        if (!s) continue;
        if (tag == DT_NEEDED) g_ptr_array_add(e->needed, s);
        else if (tag == DT_SONAME && !e->soname) e->soname = s;
        else if (tag == DT_RUNPATH && !e->runpath) e->runpath = s;
        else if (tag == DT_RPATH && !e->rpath) e->rpath = s;
        else g_free(s);
    }
}

ttml_elf_info *ttml_elf_read(const char *path)
{
    ttml_elf_info *e = g_new0(ttml_elf_info, 1);
    e->path = g_strdup(path);
    e->needed = g_ptr_array_new_with_free_func(g_free);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e->error = g_strdup_printf("cannot open: %s", g_strerror(errno));
        return e;
    }
    struct stat st;
    guint64 size = fstat(fd, &st) == 0 ? (guint64)st.st_size : 0;
    guint8 *eh = read_at(fd, size, 0, 64 <= size ? 64 : 52);
    GArray *loads = g_array_new(FALSE, FALSE, sizeof(load_seg));
    guint8 *ph = NULL, *dyn = NULL, *strtab = NULL;
    if (!eh || memcmp(eh, ELFMAG, SELFMAG) != 0) {
        e->error = g_strdup("not an ELF file (bad magic or too short)");
        goto out;
    }
    e->cls = eh[EI_CLASS];
    e->data = eh[EI_DATA];
    if ((e->cls != ELFCLASS32 && e->cls != ELFCLASS64) || (e->data != ELFDATA2LSB && e->data != ELFDATA2MSB) ||
        (e->cls == ELFCLASS64 && size < 64)) {
        e->error = g_strdup("unknown ELF class or byte order");
        goto out;
    }
    gboolean is64 = e->cls == ELFCLASS64;
    e->type = (guint16)rd(eh + 16, 2, e->data);
    e->machine = (guint16)rd(eh + 18, 2, e->data);
    guint64 phoff = is64 ? rd(eh + 32, 8, e->data) : rd(eh + 28, 4, e->data);
    guint64 phentsize = rd(eh + (is64 ? 54 : 42), 2, e->data);
    guint64 phnum = rd(eh + (is64 ? 56 : 44), 2, e->data);
    if (phentsize < (is64 ? 56u : 32u) || phnum == 0 || !(ph = read_at(fd, size, phoff, phentsize * phnum))) {
        e->error = g_strdup("no readable program headers");
        goto out;
    }
    guint64 dyn_off = 0, dyn_size = 0;
    gboolean have_dyn = FALSE;
    for (guint64 i = 0; i < phnum; i++) {
        const guint8 *p = ph + i * phentsize;
        guint32 type = (guint32)rd(p, 4, e->data);
        guint64 off = is64 ? rd(p + 8, 8, e->data) : rd(p + 4, 4, e->data);
        guint64 vaddr = is64 ? rd(p + 16, 8, e->data) : rd(p + 8, 4, e->data);
        guint64 filesz = is64 ? rd(p + 32, 8, e->data) : rd(p + 16, 4, e->data);
        if (type == PT_LOAD) {
            load_seg s = {vaddr, off, filesz};
            g_array_append_val(loads, s);
        } else if (type == PT_DYNAMIC) {
            dyn_off = off;
            dyn_size = filesz;
            have_dyn = TRUE;
        } else if (type == PT_NOTE && !e->build_id) {
            guint8 *note = read_at(fd, size, off, filesz);
            if (note) e->build_id = note_build_id(note, filesz, e->data);
            g_free(note);
        }
    }
    if (!have_dyn) goto out; /* a static executable: no dynamic dependencies */
    guint64 entsz = is64 ? 16 : 8;
    if (!(dyn = read_at(fd, size, dyn_off, dyn_size)) || dyn_size < entsz) {
        e->error = g_strdup("unreadable dynamic section");
        goto out;
    }
    guint64 strtab_vaddr = 0, strsz = 0;
    gboolean have_strtab = FALSE;
    for (guint64 q = 0; q + entsz <= dyn_size; q += entsz) {
        gint64 tag = (gint64)(is64 ? rd(dyn + q, 8, e->data) : rd(dyn + q, 4, e->data));
        guint64 val = is64 ? rd(dyn + q + 8, 8, e->data) : rd(dyn + q + 4, 4, e->data);
        if (tag == DT_NULL) break;
        if (tag == DT_STRTAB) {
            strtab_vaddr = val;
            have_strtab = TRUE;
        } else if (tag == DT_STRSZ) {
            strsz = val;
        }
    }
    guint64 strtab_off = 0;
    if (!have_strtab || !vaddr_to_offset(loads, strtab_vaddr, &strtab_off) ||
        !(strtab = read_at(fd, size, strtab_off, strsz))) {
        e->error = g_strdup("dynamic string table not found in the file");
        goto out;
    }
    read_dyn_strings(e, dyn, dyn_size, strtab, strsz);
out:
    close(fd);
    g_free(eh);
    g_free(ph);
    g_free(dyn);
    g_free(strtab);
    g_array_unref(loads);
    return e;
}

gboolean ttml_elf_compatible(const char *path, int cls, int machine)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return FALSE;
    guint8 h[20];
    gboolean okay = read(fd, h, sizeof h) == (ssize_t)sizeof h && memcmp(h, ELFMAG, SELFMAG) == 0 &&
                    h[EI_CLASS] == cls && rd(h + 18, 2, h[EI_DATA]) == (guint64)machine;
    close(fd);
    return okay;
}
