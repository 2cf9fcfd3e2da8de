/* ttml/error.h - error domain and codes.
 *
 * Every fallible ttml function takes a trailing `GError **error`, returns
 * FALSE / NULL / -1 on failure and sets the error (GLib convention: the
 * caller owns the GError and frees it with g_error_free; pass NULL to ignore).
 * Messages say what failed, where (file, line, tensor, plugin) and how to fix it.
 */
#ifndef TTML_ERROR_H
#define TTML_ERROR_H

#include <glib.h>
#include <ttml/api.h>

G_BEGIN_DECLS

#define TTML_ERROR (ttml_error_quark())
TTML_API GQuark ttml_error_quark(void);

typedef enum {
    TTML_ERROR_FAILED = 1,     /* generic failure                                  */
    TTML_ERROR_INVALID_ARG,    /* a bad argument from the caller                    */
    TTML_ERROR_SHAPE,          /* shapes do not fit; message shows both shapes      */
    TTML_ERROR_DTYPE,          /* unsupported or mismatched dtype                   */
    TTML_ERROR_NOT_FOUND,      /* unknown name (device, op, model...); lists known  */
    TTML_ERROR_PLUGIN,         /* a plugin could not be loaded or initialised       */
    TTML_ERROR_ABI,            /* a plugin was built for another ABI                */
    TTML_ERROR_CONFIG,         /* malformed or invalid configuration (line, column) */
    TTML_ERROR_IO,             /* file could not be read or written                 */
    TTML_ERROR_CHECKPOINT,     /* corrupt, truncated or mismatched checkpoint       */
    TTML_ERROR_DEVICE,         /* device failure                                    */
    TTML_ERROR_OOM,            /* device out of memory: request, budget, in use     */
    TTML_ERROR_UNSUPPORTED,    /* the driver or op does not support this            */
    TTML_ERROR_NUMERIC,        /* non-finite values where finite ones are required  */
    TTML_ERROR_INTERRUPTED,    /* stopped on request (a signal); says how to resume */
} ttml_error_code;

G_END_DECLS

#endif
