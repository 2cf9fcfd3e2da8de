"""ttml.optimizers: TT-Train's SGDConfig / SGD, AdamWConfig / AdamW (and any
registered optimizer by name), over the optimizer plugins (PyTorch semantics)."""
from . import _ttml
from ._config import to_yaml
from .autograd import Tensor


def _named(parameters):
    """[(name, Tensor)] from {name: Tensor}, [(name, Tensor)] or [Tensor]."""
    if isinstance(parameters, dict):
        return list(parameters.items())
    out = []
    for i, p in enumerate(parameters):
        out.append(("param%d" % i, p) if isinstance(p, Tensor) else tuple(p))
    return out


class SGDConfig:
    def __init__(self, lr=0.01, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.dampening, self.nesterov = dampening, nesterov

    @staticmethod
    def make(lr=0.01, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        return SGDConfig(lr, momentum, weight_decay, dampening, nesterov)

    def _options(self):
        return {"momentum": float(self.momentum), "dampening": float(self.dampening),
                "nesterov": bool(self.nesterov)}


class AdamWConfig:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.epsilon, self.weight_decay = epsilon, weight_decay

    @staticmethod
    def make(lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01):
        return AdamWConfig(lr, beta1, beta2, epsilon, weight_decay)

    def _options(self):
        return {"beta1": float(self.beta1), "beta2": float(self.beta2), "epsilon": float(self.epsilon)}


class OptimizerBase:
    """A registered optimizer over named parameters."""

    def __init__(self, name, parameters, lr, weight_decay=None, **options):
        self.name = name
        self._params = _named(parameters)
        wd = -1.0 if weight_decay is None else float(weight_decay)
        self._opt = _ttml.Optimizer(name, self._params, to_yaml(options) if options else None, float(lr), wd)

    def zero_grad(self):
        self._opt.zero_grad()

    def step(self):
        self._opt.step()

    def get_lr(self):
        return self._opt.get_lr()

    def set_lr(self, lr):
        self._opt.set_lr(lr)

    def get_steps(self):
        return self._opt.steps

    def set_steps(self, steps):
        self._opt.steps = steps

    def parameters(self):
        return dict(self._params)

    def state(self, all=False):
        """[(param name, state name, Tensor)]: momentum_buffer, exp_avg, exp_avg_sq, ..."""
        return self._opt.state(all)


class SGD(OptimizerBase):
    def __init__(self, parameters, config):
        super().__init__("sgd", parameters, config.lr, config.weight_decay, **config._options())


class AdamW(OptimizerBase):
    def __init__(self, parameters, config):
        super().__init__("adamw", parameters, config.lr, config.weight_decay, **config._options())


class MorehAdamW(OptimizerBase):
    def __init__(self, parameters, config):
        super().__init__("moreh_adamw", parameters, config.lr, config.weight_decay, **config._options())


def create(name, parameters, lr, weight_decay=None, **options):
    """Any registered optimizer by name (a third-party plugin's too)."""
    return OptimizerBase(name, parameters, lr, weight_decay, **options)


def clip_grad_norm(parameters, max_norm):
    """Clip the global L2 norm of the gradients (PyTorch clip_grad_norm_);
    returns the norm before clipping. Computed with ttml ops on the device."""
    import math
    grads = [t.get_grad() for _, t in _named(parameters)]
    grads = [g for g in grads if g is not None]
    if not grads:
        return 0.0
    total = sum(_ttml.sum(_ttml.mul(g, g)).item() for g in grads)
    norm = math.sqrt(total)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for _, t in _named(parameters):
            g = t.get_grad()
            if g is not None:
                g.assign(g.to_numpy() * scale)
    return norm
