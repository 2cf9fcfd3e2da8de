"""Reference counting: a training loop (C model, Python module, Python
Function, NumPy in and out, optimizer, scheduler) runs many steps and both
the Python heap (tracemalloc) and the device's current bytes stay flat."""
import gc
import tracemalloc

import numpy as np

import harness
import ttml

T = ttml.autograd.Tensor
ops = ttml.ops
ctx = ttml.autograd.AutoContext.get_instance()
ctx.open_device("cpu")


class Square(ttml.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ops.binary.mul(x, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ops.binary.mul(grad, ops.binary.mul(x, 2.0))


class Net(ttml.modules.ModuleBase):
    def __init__(self):
        super().__init__()
        self.body = ttml.models.linear_regression.create_linear_regression_model(4, 8)
        self.head = ttml.modules.LinearLayer(8, 1)

    def forward(self, x):
        return self.head(Square.apply(ops.unary.gelu(self.body(x))))


def step(model, opt, sched, rng, retain_check=False):
    x = T.from_numpy(rng.standard_normal((16, 1, 1, 4)).astype(np.float32))
    y = T.from_numpy(rng.standard_normal((16, 1, 1, 1)).astype(np.float32))
    opt.zero_grad()
    loss = ops.loss.mse_loss(model(x), y, ops.ReduceType.MEAN)
    loss.backward(False)
    value = float(loss.get_value().item())
    _ = model.parameters()["head.weight"].get_grad().to_numpy()
    opt.step()
    sched.step()
    ctx.reset_graph()
    return value


def test_memory_stays_flat():
    ctx.set_seed(1)
    rng = np.random.default_rng(0)
    model = Net()
    opt = ttml.optimizers.AdamW(model.parameters(), ttml.optimizers.AdamWConfig.make(lr=1e-3))
    sched = ttml.schedulers.CosineScheduler(opt, 100000)
    for _ in range(200):
        step(model, opt, sched, rng)
    gc.collect()
    tracemalloc.start()
    dev0 = ctx.device_mem_current()
    py0 = tracemalloc.get_traced_memory()[0]
    steps = 3000
    for _ in range(steps):
        step(model, opt, sched, rng)
    gc.collect()
    py1 = tracemalloc.get_traced_memory()[0]
    dev1 = ctx.device_mem_current()
    tracemalloc.stop()
    print("  %d steps: device bytes %d -> %d, Python heap %d -> %d (%+d bytes)"
          % (steps, dev0, dev1, py0, py1, py1 - py0))
    assert ctx.graph_size() == 0
    assert dev1 == dev0, (dev0, dev1)
    # one leaked object per step would be >= 3000 * 48 bytes
    assert py1 - py0 < 16 * 1024, (py0, py1)


def test_dropped_graph_frees_activations():
    """A forward whose graph is reset without backward frees its tensors
    (the nodes' references, the Python Function's saved context)."""
    model = Net()
    x = T.from_numpy(np.ones((64, 1, 1, 4), np.float32))
    for _ in range(5):
        model(x)
        ctx.reset_graph()
    gc.collect()
    dev0 = ctx.device_mem_current()
    for _ in range(200):
        out = model(x)
        del out
        ctx.reset_graph()
    gc.collect()
    assert ctx.device_mem_current() == dev0


harness.run(dict(globals()))
