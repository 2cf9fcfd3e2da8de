/* optimizers - the optimizers plugin: sgd (sgd.c) and adamw (adamw.c), with
 * moreh_adamw registered as an alias of adamw (TT-Train's name for its fused
 * AdamW). Both follow PyTorch's semantics and update each parameter with one
 * fused kernel launch ("sgd_step", "adamw_step", see ttml/kernels.h).
 *
 * Common keys of the optimizer's own map: learning_rate (or lr) and
 * weight_decay override the training config's values (optim_args.c). */
#include "optim_common.h"

static const ttml_optimizer_desc sgd_desc = {
    sizeof(ttml_optimizer_desc), "sgd",
    "SGD with momentum, dampening, nesterov and L2 weight_decay (PyTorch semantics)",
    ttml_sgd_create,
};

static const ttml_optimizer_desc adamw_desc = {
    sizeof(ttml_optimizer_desc), "adamw",
    "AdamW with decoupled weight decay, fused one-pass kernel (beta1, beta2, epsilon, "
    "weight_decay)",
    ttml_adamw_create,
};

static const ttml_optimizer_desc moreh_adamw_desc = {
    sizeof(ttml_optimizer_desc), "moreh_adamw",
    "alias of adamw (TT-Train's fused MorehAdamW)", ttml_adamw_create,
};

static gboolean optimizers_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_optimizer(plugin, &sgd_desc, error) &&
           host->register_optimizer(plugin, &adamw_desc, error) &&
           host->register_optimizer(plugin, &moreh_adamw_desc, error);
}

TTML_PLUGIN_DEFINE(optimizers, TTML_PLUGIN_OPTIMIZER, "0.1.0", "sgd, adamw and moreh_adamw",
                   "Apache-2.0", NULL, optimizers_init, NULL)
