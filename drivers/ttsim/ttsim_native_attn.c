/* drivers/ttsim/ttsim_native_attn.c - native attn kernels (see ttsim_native.c). */
#include "ttsim_internal.h"

const ttsim_native_entry ttsim_native_attn_kernels[] = {
    {NULL, NULL},
};
