"""ttml.schedulers: learning-rate schedules over the scheduler plugins
(identity, warmup_linear, cosine, any registered one). A scheduler maps step
s (0-based) to a factor of the optimizer's base rate, like PyTorch's
LambdaLR: the rate is set at construction (step 0) and by each step()."""
from . import _ttml
from ._config import to_yaml


class Scheduler:
    def __init__(self, name, optimizer, total_steps, **config):
        self._s = _ttml.Scheduler(name, int(total_steps), to_yaml(config) if config else None)
        self.optimizer = optimizer
        self.base_lr = optimizer.get_lr()
        self.last_step = 0
        self._apply()

    def _apply(self):
        self.optimizer.set_lr(self.base_lr * self._s.factor(self.last_step))

    def factor(self, step):
        return self._s.factor(step)

    def step(self):
        self.last_step += 1
        self._apply()

    def get_last_lr(self):
        return self.optimizer.get_lr()

    def get_current_lr(self):
        return self.optimizer.get_lr()


def IdentityScheduler(optimizer, total_steps=1):
    return Scheduler("identity", optimizer, total_steps)


def WarmupLinearScheduler(optimizer, total_steps, **config):
    return Scheduler("warmup_linear", optimizer, total_steps, **config)


def CosineScheduler(optimizer, total_steps, **config):
    return Scheduler("cosine", optimizer, total_steps, **config)


def create(name, optimizer, total_steps, **config):
    return Scheduler(name, optimizer, total_steps, **config)
