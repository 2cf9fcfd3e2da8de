/* drivers/ttsim/timing/ttsim_eth.c - simulated inter-chip Ethernet: the time
 * of a collective's transfers on one chip, charged to the device (the
 * driver's charge_collective entry). The mesh decides the algorithm (e.g. a
 * ring all-reduce = 2(n-1) steps of B/n bytes); this file knows the links:
 * per step, one hop's latency plus the bytes over the links' bandwidth
 * (figures in ttsim_arch.c, sources in docs/ttsim.md). */
#include "ttsim_internal.h"

gboolean ttsim_charge_collective(void *dev, ttml_collective_cost *c, GError **error)
{
    ttsim_device *d = dev;
    const ttsim_arch *a = d->cfg.arch;
    if (!(a->eth_link_bytes_per_s > 0)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                    "%s: no Ethernet link figures for architecture '%s'; simulated meshes are Wormhole "
                    "(n300, t3k)", d->name, a->name);
        return FALSE;
    }
    if (c->steps < 0 || c->links < 1 || !(c->bytes_per_step >= 0)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: collective '%s' with %d steps of %g bytes over %d links: need steps >= 0, bytes >= 0 "
                    "and links >= 1", d->name, c->name ? c->name : "?", c->steps, c->bytes_per_step, c->links);
        return FALSE;
    }
    double per_step = a->eth_hop_latency_s + c->bytes_per_step / ((double)c->links * a->eth_link_bytes_per_s);
    c->seconds = (double)c->steps * per_step;
    g_mutex_lock(&d->lock);
    d->sim_s += c->seconds;
    d->comm_s += c->seconds;
    d->collectives++;
    g_mutex_unlock(&d->lock);
    return TRUE;
}
