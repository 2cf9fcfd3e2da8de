/* drivers/ttsim/ttsim_native_data.c - native data kernels (see ttsim_native.c). */
#include "ttsim_internal.h"

const ttsim_native_entry ttsim_native_data_kernels[] = {
    {NULL, NULL},
};
