/* ttml/types.h - basic enums and forward declarations shared by all headers. */
#ifndef TTML_TYPES_H
#define TTML_TYPES_H

#include <glib.h>
#include <ttml/api.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

#define TTML_MAX_DIMS 4

typedef enum {
    TTML_DTYPE_F32 = 0,
    TTML_DTYPE_BF16 = 1,
    TTML_DTYPE_U32 = 2,
    TTML_DTYPE_COUNT
} ttml_dtype;

typedef enum {
    TTML_MEM_HOST = 0,  /* ordinary host memory                      */
    TTML_MEM_DRAM = 1,  /* device DRAM (the cpu driver: host memory) */
    TTML_MEM_L1 = 2,    /* per-core SRAM (ttsim)                     */
    TTML_MEM_KIND_COUNT
} ttml_mem_kind;

/* Operand precision of matrix products (training_config.precision). bf16:
 * operands rounded to bf16, products accumulated and stored in fp32. */
typedef enum {
    TTML_PRECISION_FP32 = 0,
    TTML_PRECISION_BF16 = 1,
} ttml_precision;

typedef enum {
    TTML_LAYOUT_ROW_MAJOR = 0,
    TTML_LAYOUT_TILE = 1,   /* 32x32 tiles of four 16x16 faces (ttsim) */
} ttml_layout;

typedef struct ttml_plugin ttml_plugin;   /* a loaded plugin (core-owned)      */
typedef struct ttml_device ttml_device;   /* an open device (core-owned)       */
typedef struct ttml_buffer ttml_buffer;   /* device memory (see driver.h)      */
typedef struct ttml_tensor ttml_tensor;   /* see tensor.h                      */
typedef struct ttml_node ttml_node;       /* autograd graph node (autograd.h)  */
typedef struct ttml_config ttml_config;   /* a YAML config node (config.h)     */
typedef struct ttml_module ttml_module;   /* see module.h                      */
typedef struct ttml_optimizer ttml_optimizer;
typedef struct ttml_scheduler ttml_scheduler;

/* Size in bytes of one element of `dtype`. */
TTML_API size_t ttml_dtype_size(ttml_dtype dtype);
/* "f32", "bf16", "u32". */
TTML_API const char *ttml_dtype_name(ttml_dtype dtype);
TTML_API const char *ttml_mem_kind_name(ttml_mem_kind kind);

G_END_DECLS

#endif
