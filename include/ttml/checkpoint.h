/* ttml/checkpoint.h - safetensors files (interoperable with PyTorch and
 * Hugging Face tools): an 8-byte little-endian header length, a JSON header
 * {"name": {"dtype": "F32"|"BF16"|"U32", "shape": [...], "data_offsets":
 * [begin, end]}, ..., "__metadata__": {"key": "string value"}}, then the
 * raw little-endian data.
 *
 * Saving is atomic: the file is written to "PATH.tmp-XXXXXX" beside PATH,
 * fsynced, renamed over PATH, and the directory is fsynced; a crash leaves
 * either the old or the new file, never a torn one. Temporary files of PATH
 * left by an interrupted save are removed after the next successful save.
 * A PATH that is a directory is an error saying so (saving and reading).
 *
 * Reading validates everything before use: header length against the file
 * size, the JSON, every dtype, shape and offset (in range, consistent with
 * the shape, no overlap). Errors are TTML_ERROR_CHECKPOINT (or _IO) and name
 * the file and the tensor or byte offset at fault.
 */
#ifndef TTML_CHECKPOINT_H
#define TTML_CHECKPOINT_H

#include <ttml/tensor.h>

G_BEGIN_DECLS

/* Save tensors (ttml_param*: name + tensor, read from their devices) and
 * string metadata (char* -> char*, may be NULL). */
TTML_API gboolean ttml_checkpoint_save(const char *path, const GPtrArray *tensors, GHashTable *metadata, GError **error);

typedef struct ttml_checkpoint ttml_checkpoint;

TTML_API ttml_checkpoint *ttml_checkpoint_open(const char *path, GError **error);
TTML_API void ttml_checkpoint_close(ttml_checkpoint *ck);
/* Metadata value or NULL (owned by ck). */
TTML_API const char *ttml_checkpoint_metadata(const ttml_checkpoint *ck, const char *key);
/* Tensor names in file order (owned by ck). */
TTML_API const GPtrArray *ttml_checkpoint_names(const ttml_checkpoint *ck);
TTML_API gboolean ttml_checkpoint_has(const ttml_checkpoint *ck, const char *name);
/* Dtype and exact shape of tensor `name` as stored (at most
 * TTML_CHECKPOINT_MAX_DIMS dimensions; any of the outputs may be NULL).
 * FALSE, outputs untouched, when the checkpoint has no such tensor. */
#define TTML_CHECKPOINT_MAX_DIMS 8
TTML_API gboolean ttml_checkpoint_tensor_info(const ttml_checkpoint *ck, const char *name, ttml_dtype *dtype,
                                              int *ndim, int64_t shape[TTML_CHECKPOINT_MAX_DIMS]);
/* Copy tensor `name` into dst, which must have exactly the stored shape and
 * dtype (a [8,32] tensor never loads into [32,8]); the error names the tensor
 * and both shapes otherwise, or says it is missing. */
TTML_API gboolean ttml_checkpoint_load_tensor(const ttml_checkpoint *ck, const char *name, ttml_tensor *dst,
                                              GError **error);
/* F32/BF16 tensors holding NaN or Inf are refused by ttml_checkpoint_load_tensor
 * (the error names the tensor, the count and the first bad element); after
 * allow(TRUE) they load with a warning instead (the user asked to load anyway). */
TTML_API void ttml_checkpoint_allow_nonfinite(ttml_checkpoint *ck, gboolean allow);

G_END_DECLS

#endif
