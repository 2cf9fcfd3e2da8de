"""Finite-difference gradient checks shared by the Python tests."""
import numpy as np

import ttml
import ttml.ttnn as ttnn

T = ttml.autograd.Tensor
ops = ttml.ops
ctx = ttml.autograd.AutoContext.get_instance()
rng = np.random.default_rng(1234)


def tensor(a):
    a = np.asarray(a)
    dt = ttnn.DataType.UINT32 if a.dtype == np.uint32 else ttnn.DataType.FLOAT32
    return T.from_numpy(a, new_type=dt)


def loss_of(fn, arrays, weight):
    with ttml.autograd.no_grad():
        out = fn(*[tensor(a) for a in arrays]).to_numpy()
    return float(np.sum(out.astype(np.float64) * weight))


def check(name, fn, arrays, diff=None, eps=1e-2, rtol=3e-2, atol=3e-3, samples=10):
    arrays = [np.asarray(a) for a in arrays]
    diff = [i for i, a in enumerate(arrays) if a.dtype == np.float32] if diff is None else diff
    ts = [tensor(a) for a in arrays]
    for i in diff:
        ts[i].requires_grad = True
    out = fn(*ts)
    weight = rng.uniform(0.5, 1.5, out.shape).astype(np.float32)
    loss = ops.unary.sum(ops.binary.mul(out, tensor(weight)))
    loss.backward(False)
    ctx.reset_graph()
    for i in diff:
        g = ts[i].get_grad()
        assert g is not None, "%s: input %d got no gradient" % (name, i)
        g = g.to_numpy()
        flat = arrays[i].reshape(-1)
        for k in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            plus, minus = [a.copy() for a in arrays], [a.copy() for a in arrays]
            plus[i].reshape(-1)[k] += eps
            minus[i].reshape(-1)[k] -= eps
            num = (loss_of(fn, plus, weight) - loss_of(fn, minus, weight)) / (2 * eps)
            ana = float(g.reshape(-1)[k])
            assert abs(num - ana) <= atol + rtol * max(abs(num), abs(ana)), \
                "%s: d/d input %d [%d]: finite difference %.5f, backward %.5f" % (name, i, k, num, ana)


def r(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def away_from_zero(*shape):
    return (np.sign(r(*shape)) * r(*shape, lo=0.3, hi=1.0)).astype(np.float32)


