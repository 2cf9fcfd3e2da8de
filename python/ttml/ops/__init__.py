"""ttml.ops: autograd ops (TT-Train's ttml.ops.*).

Submodules by TT-Train's grouping: loss, binary, unary, matmul, linear,
layernorm, rmsnorm, embedding, attention, dropout, reshape. Every op is also
here by name. `call(name, ...)` reaches any op a plugin registered (a
third-party op too) or one registered from Python with `register`."""
import enum

from .. import _ttml


class ReduceType(enum.IntEnum):
    """How a loss reduces (ttml_reduction). NONE is not supported by ttml's losses."""
    MEAN = 0
    SUM = 1
    NONE = 2


from . import loss, binary, unary, matmul, linear, layernorm, rmsnorm, embedding, attention, dropout, reshape  # noqa: E402,F401

add, sub, mul, div = binary.add, binary.sub, binary.mul, binary.div
relu, gelu, silu, softmax, log_softmax = unary.relu, unary.gelu, unary.silu, unary.softmax, unary.log_softmax
mean, sum = unary.mean, unary.sum  # noqa: A001
mse_loss, cross_entropy_loss, nll_loss = loss.mse_loss, loss.cross_entropy_loss, loss.nll_loss
matmul_op = _ttml.matmul
linear_op = _ttml.linear
concat, split, transpose = _ttml.concat, _ttml.split, _ttml.transpose
swiglu = _ttml.swiglu
scaled_dot_product_attention = _ttml.scaled_dot_product_attention

_python_ops = {}


def register(name, function):
    """Register a ttml.autograd.Function subclass (or any callable returning
    a Tensor) under `name`, so call(name, ...) finds it."""
    if name in _python_ops:
        raise _ttml.InvalidArgumentError("op '%s' is already registered from Python" % name)
    _python_ops[name] = function
    return function


def call(name, *inputs, params=None, **kwargs):
    """Call an op by name: one registered from Python with register(), else
    one a plugin registered (params: the raw bytes of its parameter struct,
    e.g. bytes(ctypes_struct) or struct.pack(...))."""
    fn = _python_ops.get(name)
    if fn is not None:
        apply = getattr(fn, "apply", fn)
        return apply(*inputs, **kwargs)
    if kwargs:
        raise TypeError("call(%r): plugin ops take only tensors and params=bytes" % name)
    return _ttml.call(name, *inputs, params=params)


def op_info(name):
    """(min_inputs, max_inputs, params_size, description) of a plugin op, or None."""
    return _ttml.op_info(name)


def registered():
    """Names of the ops plugins registered, then those registered from Python."""
    return _ttml.registered("op") + sorted(_python_ops)
