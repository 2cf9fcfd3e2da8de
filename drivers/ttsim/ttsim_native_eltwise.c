/* drivers/ttsim/ttsim_native_eltwise.c - native eltwise kernels (see ttsim_native.c). */
#include "ttsim_internal.h"

const ttsim_native_entry ttsim_native_eltwise_kernels[] = {
    {NULL, NULL},
};
