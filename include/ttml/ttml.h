/* ttml/ttml.h - the whole public API. */
#ifndef TTML_TTML_H
#define TTML_TTML_H

#include <ttml/types.h>
#include <ttml/error.h>
#include <ttml/plugin.h>
#include <ttml/driver.h>
#include <ttml/kernels.h>
#include <ttml/kernels_attn.h>
#include <ttml/kernels_nn.h>
#include <ttml/tensor.h>
#include <ttml/autograd.h>
#include <ttml/ops.h>
#include <ttml/config.h>
#include <ttml/module.h>
#include <ttml/optimizer.h>
#include <ttml/scheduler.h>
#include <ttml/registry.h>
#include <ttml/data.h>
#include <ttml/train.h>
#include <ttml/ops_nn.h>
#include <ttml/ops_attn.h>
#include <ttml/tokenizer.h>
#include <ttml/checkpoint.h>
#include <ttml/json_string.h>
#include <ttml/profile_zones.h>
#include <ttml/comm.h>
#include <ttml/ops_parallel.h>

#endif
