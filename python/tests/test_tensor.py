"""NumPy round trips (fp32, bf16, u32) and the exceptions of misuse."""
import numpy as np

import harness
import ttml
import ttml.ttnn as ttnn

Tensor = ttml.autograd.Tensor
ctx = ttml.autograd.AutoContext.get_instance()
ctx.open_device("cpu")


def bf16_round(a):
    """Round float32 to bfloat16 (nearest even), held in float32."""
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def test_fp32_round_trip():
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    t = Tensor.from_numpy(a)
    assert t.shape == (2, 3, 4, 5) and t.shape() == (2, 3, 4, 5) and t.dtype == ttnn.DataType.FLOAT32
    b = t.to_numpy(ttnn.DataType.FLOAT32)
    assert b.dtype == np.float32 and np.array_equal(a, b)
    assert np.array_equal(Tensor.from_numpy(a.astype(np.float64)).to_numpy(), a)   # float64 -> f32
    assert np.array_equal(Tensor.from_numpy(a[:, :, ::2, :]).to_numpy(), a[:, :, ::2, :])  # strided
    assert Tensor.from_numpy(np.float32(3.5)).shape == (1,)


def test_bf16_round_trip():
    a = np.random.default_rng(1).standard_normal((3, 70)).astype(np.float32)
    t = Tensor.from_numpy(a, layout=ttnn.Layout.TILE, new_type=ttnn.DataType.BFLOAT16)
    assert t.dtype == ttnn.DataType.BFLOAT16
    b = t.to_numpy()
    assert b.dtype == np.float32 and np.array_equal(b, bf16_round(a))
    assert np.array_equal(t.to_numpy(ttnn.DataType.BFLOAT16), bf16_round(a))
    assert np.array_equal(Tensor.from_numpy(a).to_numpy(ttnn.DataType.BFLOAT16), bf16_round(a))


def test_u32_round_trip():
    a = np.array([[0, 1, 2**31, 2**32 - 1]], dtype=np.uint32)
    t = Tensor.from_numpy(a, layout=ttnn.Layout.ROW_MAJOR, new_type=ttnn.DataType.UINT32)
    assert t.dtype == ttnn.DataType.UINT32
    b = t.to_numpy()
    assert b.dtype == np.uint32 and np.array_equal(a, b)
    assert np.array_equal(Tensor.from_numpy(np.arange(5)).to_numpy(ttnn.DataType.UINT32), np.arange(5))
    assert Tensor.from_numpy(np.array([7], dtype=np.uint32)).item() == 7


def test_bad_numpy_input():
    harness.raises(ttml.DTypeError, Tensor.from_numpy, np.array(["a", "b"]))
    harness.raises(ttml.DTypeError, Tensor.from_numpy, np.ones(3, dtype=np.complex64))
    harness.raises(TypeError, Tensor.from_numpy, np.ones(3), new_type="f32")
    harness.raises(ttml.DTypeError, Tensor.from_numpy, np.ones(3), new_type=7)
    harness.raises(ttml.DTypeError, Tensor.from_numpy, np.array([-1, 2]), new_type=ttnn.DataType.UINT32,
                   match="element 0 is -1")
    harness.raises(ttml.DTypeError, Tensor.from_numpy, np.array([0.5]), new_type=ttnn.DataType.UINT32)
    harness.raises(ttml.ShapeError, Tensor.from_numpy, np.ones((1, 1, 1, 1, 2), np.float32))
    harness.raises(ttml.ShapeError, Tensor.from_numpy, np.ones((0, 3), np.float32))
    harness.raises(ttml.DTypeError, Tensor.from_numpy(np.ones(2, np.float32)).to_numpy, 9)


def test_op_errors():
    a = Tensor.from_numpy(np.ones((2, 3), np.float32))
    b = Tensor.from_numpy(np.ones((4, 5), np.float32))
    e = harness.raises(ttml.ShapeError, ttml.ops.binary.add, a, b, match="[2, 3]")
    assert isinstance(e, ValueError) and isinstance(e, ttml.Error) and e.code == 3
    harness.raises(ttml.ShapeError, ttml.ops.matmul_op, a, a)
    harness.raises(ttml.ShapeError, a.item, match="item() needs a 1-element tensor")
    harness.raises(TypeError, ttml.ops.binary.add, a, "x")
    harness.raises(TypeError, ttml.ops.binary.add, 1, 2)
    harness.raises(ttml.NotFoundError, ttml.ops.call, "no_such_op", a)
    harness.raises(ttml.UnsupportedError, ttml.ops.loss.mse_loss, a, a, ttml.ops.ReduceType.NONE)
    ids = Tensor.from_numpy(np.array([[1, 2]], np.float32))
    harness.raises(ttml.DTypeError, ttml.ops.loss.cross_entropy_loss, a, ids)
    w = Tensor.from_numpy(np.ones((4, 3), np.float32))
    big = Tensor.from_numpy(np.array([[9]], np.uint32))
    harness.raises(ttml.InvalidArgumentError, ttml.ops.embedding.embedding, big, w, match="9")
    harness.raises(ttml.UnsupportedError, ttml.ops.unary.softmax, a, 0)


def test_context_errors():
    harness.raises(ttml.NotFoundError, ctx.open_device, "nosuchdevice")
    harness.raises(ttml.NotFoundError, ttml.models.create_model, "no_such_model")
    harness.raises(ttml.ConfigError, ttml.models.create_model, "linear_regression", in_features=2,
                   out_features=1, bogus=3)
    harness.raises(ttml.ConfigError, ttml.models.linear_regression.create_linear_regression_model, 0, 1)
    harness.raises(ttml.NotFoundError, ttml.optimizers.create, "no_such_opt", {}, 0.1)
    harness.raises(ttml.InvalidArgumentError, ttml.init, plugin_paths=["/nonexistent"])
    harness.raises(ttml.IOError, ttml.checkpoint.load, "/nonexistent/x.safetensors", None)


def test_graph_reset_then_backward():
    w = Tensor.from_numpy(np.ones((1, 3), np.float32))
    w.requires_grad = True
    x = Tensor.from_numpy(np.ones((2, 3), np.float32))
    loss = ttml.ops.unary.sum(ttml.ops.binary.mul(x, w))
    ctx.reset_graph()
    harness.raises(ttml.GraphError, loss.backward, False, match="graph")
    loss2 = ttml.ops.unary.sum(ttml.ops.binary.mul(x, w))
    loss2.backward(False)
    e = harness.raises(ttml.GraphError, loss2.backward, False)
    assert isinstance(e, RuntimeError)
    harness.raises(ttml.InvalidArgumentError, x.backward, match="does not require grad")
    assert np.allclose(w.get_grad().to_numpy(), 2.0)


def test_use_after_close_device():
    t = Tensor.from_numpy(np.ones(3, np.float32))
    model = ttml.models.linear_regression.create_linear_regression_model(3, 1)
    ctx.close_device()
    harness.raises(ttml.DeviceError, t.to_numpy, match="closed")
    harness.raises(ttml.DeviceError, ttml.ops.binary.add, t, t)
    harness.raises(ttml.DeviceError, Tensor.from_numpy, np.ones(3), match="open_device")
    harness.raises(ttml.DeviceError, model, t)
    ctx.open_device("cpu")
    x = Tensor.from_numpy(np.ones((1, 1, 1, 3), np.float32))
    assert x.to_numpy().sum() == 3.0


def test_reprs_and_properties():
    t = Tensor.from_numpy(np.ones((2, 2), np.float32))
    t.name = "w"
    assert "shape=[2, 2]" in repr(t) and t.name == "w" and t.numel == 4 and t.ndim == 2
    assert t.is_leaf and not t.requires_grad and t.get_grad() is None
    v = t.get_value()
    assert np.array_equal(v.to_numpy(), t.to_numpy())
    assert ttml.ops.ReduceType.MEAN == 0 and ttnn.DataType.UINT32 == 2


def test_out_of_memory():
    ctx.open_device("ttsim:wormhole_b0,dram=1M")
    e = harness.raises(ttml.OutOfMemoryError, Tensor.from_numpy, np.ones((1024, 1024), np.float32))
    assert isinstance(e, MemoryError) and e.code == 12, e
    small = Tensor.from_numpy(np.ones((4, 4), np.float32))
    assert small.to_numpy().sum() == 16.0
    ctx.close_device()
    ctx.open_device("cpu")


def test_numpy_protocols():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = Tensor.from_numpy(a)
    assert np.array_equal(np.asarray(t), a) and np.asarray(t, dtype=np.float64).dtype == np.float64
    harness.raises(TypeError, lambda: a + t)
    assert np.array_equal((t + np.float32(1.0)).to_numpy(), a + 1)


harness.run(dict(globals()))
