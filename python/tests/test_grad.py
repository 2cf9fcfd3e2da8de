"""Gradients of the Python-visible ops against central finite differences
(fp32 on the cpu device; a sample of elements per input)."""
import numpy as np

import harness
import ttml

from gradcheck import check, r, away_from_zero, rng

ops = ttml.ops
ttml.autograd.AutoContext.get_instance().open_device("cpu")


def test_binary():
    check("add", ops.binary.add, [r(2, 3), r(1, 3)])
    check("sub", ops.binary.sub, [r(2, 3), r(2, 3)])
    check("mul", ops.binary.mul, [r(2, 1, 3), r(2, 4, 3)])
    check("div", ops.binary.div, [r(2, 3), r(2, 3, lo=1.0, hi=2.0)])
    check("operators", lambda a, b: (a * b + a / b - (-a)) * 0.5 - 1.0, [r(2, 3), r(2, 3, lo=1.0, hi=2.0)])


def test_scalar_forms():
    check("add scalar", lambda a: ops.binary.add(a, 2.0), [r(2, 3)])
    check("mul scalar", lambda a: ops.binary.mul(a, 3.0), [r(2, 3)])
    check("scalar - a", lambda a: ops.binary.sub(2.0, a), [r(2, 3)])
    check("a / scalar", lambda a: ops.binary.div(a, 4.0), [r(2, 3)])
    check("scalar / a", lambda a: 2.0 / a, [r(2, 3, lo=1.0, hi=2.0)])


def test_matmul_linear():
    check("matmul", ops.matmul_op, [r(2, 3, 4), r(2, 4, 5)])
    check("matmul ta tb", lambda a, b: ops.matmul.matmul(a, b, transpose_a=True, transpose_b=True),
          [r(4, 3), r(5, 4)])
    check("@", lambda a, b: a @ b, [r(3, 4), r(4, 2)])
    check("linear", ops.linear.linear, [r(2, 1, 3, 4), r(5, 4), r(5)])


def test_activations():
    check("relu", ops.unary.relu, [away_from_zero(2, 5)])
    check("gelu", ops.unary.gelu, [r(2, 5)])
    check("silu", ops.unary.silu, [r(2, 5)])
    check("softmax", ops.unary.softmax, [r(2, 6)])
    check("log_softmax", ops.unary.log_softmax, [r(2, 6)])
    check("swiglu", ops.reshape.swiglu, [r(2, 6), r(2, 6)])


def test_reductions_losses():
    check("sum", ops.unary.sum, [r(3, 4)])
    check("mean", ops.unary.mean, [r(3, 4)])
    check("mse_loss", lambda p, y: ops.loss.mse_loss(p, y, ops.ReduceType.MEAN), [r(4, 3), r(4, 3)])
    check("mse_loss sum", lambda p, y: ops.loss.mse_loss(p, y, ops.ReduceType.SUM), [r(4, 3), r(4, 3)])
    ids = rng.integers(0, 8, (2, 3)).astype(np.uint32)
    check("cross_entropy_loss", lambda z, t: ops.loss.cross_entropy_loss(z, t, reduce=ops.ReduceType.MEAN),
          [r(2, 1, 3, 8), ids])
    logp = np.log(np.full((2, 1, 3, 8), 1 / 8, np.float32)) + r(2, 1, 3, 8) * 0.1
    check("nll_loss", ops.loss.nll_loss, [logp.astype(np.float32), ids])


def test_nn():
    ids = rng.integers(0, 6, (2, 1, 1, 3)).astype(np.uint32)
    check("embedding", ops.embedding.embedding, [ids, r(6, 4)], diff=[1])
    check("layernorm", ops.layernorm.layernorm, [r(2, 1, 3, 8), r(8, lo=0.5, hi=1.5), r(8)])
    check("rmsnorm", ops.rmsnorm.rmsnorm, [r(2, 1, 3, 8), r(8, lo=0.5, hi=1.5)])


def test_shapes():
    check("reshape", lambda x: ops.reshape.reshape(x, [3, 4]), [r(2, 6)])
    check("transpose", ops.reshape.transpose, [r(2, 3, 4)])
    check("concat", lambda a, b: ops.reshape.concat([a, b], -1), [r(2, 3), r(2, 2)])
    check("split", lambda x: ops.reshape.split(x, [2, 3], -1)[1], [r(2, 5)])


def test_attention():
    check("split_heads", lambda x: ops.attention.split_heads(x, 2), [r(1, 1, 4, 6)])
    check("merge_heads", ops.attention.merge_heads, [r(1, 2, 4, 3)])
    check("rope", ops.attention.rope, [r(1, 2, 4, 6)])
    check("sdpa", ops.attention.scaled_dot_product_attention, [r(1, 2, 4, 4), r(1, 2, 4, 4), r(1, 2, 4, 4)])


harness.run(dict(globals()))
