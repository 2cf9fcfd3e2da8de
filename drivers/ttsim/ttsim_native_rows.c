/* drivers/ttsim/ttsim_native_rows.c - native rows kernels (see ttsim_native.c). */
#include "ttsim_internal.h"

const ttsim_native_entry ttsim_native_rows_kernels[] = {
    {NULL, NULL},
};
