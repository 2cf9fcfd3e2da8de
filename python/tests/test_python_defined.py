"""Python-defined pieces: an autograd Function joins the graph (gradients
checked by finite differences), a registered Python op is callable by name,
a ModuleBase model trains, schedulers, checkpoints, and a plugin's op loaded
by the C runtime is callable from Python by name."""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

import harness
import ttml
from gradcheck import check, r

T = ttml.autograd.Tensor
ops = ttml.ops
ctx = ttml.autograd.AutoContext.get_instance()
ctx.open_device("cpu")


class Cube(ttml.autograd.Function):
    """x^3 * scale: forward in NumPy, backward with ttml ops."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return T.from_numpy(x.to_numpy() ** 3 * scale)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ops.binary.mul(grad, ops.binary.mul(ops.binary.mul(x, x), 3.0 * ctx.scale)), None


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ops.binary.mul(grad, ops.binary.mul(x, 3.0)), None


class Boom(ttml.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return ops.binary.mul(x, 2.0)

    @staticmethod
    def backward(ctx, grad):
        raise ZeroDivisionError("raised inside backward")


class Scale2(ttml.autograd.Function):
    """Two tensor inputs: a * b with the product rule."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ops.binary.mul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return ops.binary.mul(grad, b), ops.binary.mul(grad, a)


def test_function_gradients():
    check("Cube", lambda x: Cube.apply(x, 0.5), [r(2, 3)])
    check("Cube in a chain", lambda x, w: ops.unary.gelu(Cube.apply(ops.binary.mul(x, w), 2.0)),
          [r(2, 3), r(1, 3)])
    check("Scale2", Scale2.apply, [r(2, 3), r(2, 3)])
    harness.raises(AssertionError, check, "WrongCube", lambda x: WrongCube.apply(x, 1.0), [r(2, 3, lo=0.5)],
                   match="finite difference")


def test_function_errors():
    x = T.from_numpy(r(2, 2))
    x.requires_grad = True
    y = ops.unary.sum(Boom.apply(x))
    harness.raises(ZeroDivisionError, y.backward, False, match="inside backward")
    ctx.reset_graph()
    with ttml.autograd.no_grad():
        z = Cube.apply(x, 1.0)
    assert z.is_leaf and not z.requires_grad


def test_registered_python_op():
    ops.register("cube", Cube)
    assert "cube" in ops.registered() and "matmul" in ops.registered()
    x = T.from_numpy(np.array([1.0, 2.0], np.float32))
    x.requires_grad = True
    y = ops.call("cube", x, 1.0)
    assert np.allclose(y.to_numpy(), [1.0, 8.0])
    ops.unary.sum(y).backward(False)
    assert np.allclose(x.get_grad().to_numpy(), [3.0, 12.0])
    harness.raises(ttml.InvalidArgumentError, ops.register, "cube", Cube)


def test_plugin_ops_by_name():
    x = T.from_numpy(r(2, 5))
    assert np.allclose(ops.call("relu", x).to_numpy(), np.maximum(x.to_numpy(), 0))
    assert ops.op_info("narrow")[2] == struct.calcsize("@iqq")
    y = ops.call("narrow", x, params=struct.pack("@iqq", -1, 1, 3))
    assert np.allclose(y.to_numpy(), x.to_numpy()[:, 1:4])
    harness.raises(ttml.Error, ops.call, "narrow", x, params=b"\0")


def test_third_party_plugin_from_python():
    """A plugin file loaded by the C runtime (ttml.init(plugin_files=...)):
    its op is callable by name. Runs in a child: plugins load once per process."""
    fixture = os.path.abspath("tests/fixtures/broken/libttml_fx_good.so")
    if not os.path.exists(fixture):
        print("  (no test fixture plugin in this tree; skipped)")
        return
    code = ("import ttml, numpy as np\n"
            "ttml.init(plugin_files=[%r])\n"
            "ttml.autograd.AutoContext.get_instance().open_device()\n"
            "x = ttml.autograd.Tensor.from_numpy(np.arange(3, dtype=np.float32))\n"
            "print(ttml.ops.call('fx_op_fx_good', x).to_numpy().tolist())\n"
            "print(any(p.endswith('libttml_fx_good.so') and s == 'ok' for p, s, m in ttml.plugin_records()))\n"
            % fixture)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[0.0,", "1.0,", "2.0]", "True"], out.stdout


class MLP(ttml.modules.ModuleBase):
    def __init__(self):
        super().__init__()
        self.fc1 = ttml.modules.LinearLayer(2, 16)
        self.register_module(ttml.modules.LinearLayer(16, 1), "fc2")
        self.gain = ttml.modules.Parameter(np.ones((1, 16), np.float32))

    def forward(self, x):
        h = Cube.apply(ops.unary.relu(self.fc1(x)), 0.1)
        return self._modules["fc2"](ops.binary.mul(ops.unary.relu(h), self.gain))


def toy_data(n=64):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (n, 1, 1, 2)).astype(np.float32)
    y = (x[..., :1] * x[..., 1:] + 0.5 * x[..., :1]).astype(np.float32)
    return T.from_numpy(x), T.from_numpy(y)


def train(model, opt, sched, steps, x, y):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ops.loss.mse_loss(model(x), y, ops.ReduceType.MEAN)
        loss.backward(False)
        losses.append(loss.item())
        opt.step()
        sched.step()
        ctx.reset_graph()
    return losses


def test_python_module_trains():
    ctx.set_seed(7)
    model = MLP()
    names = list(model.parameters())
    assert names == ["gain", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], names
    opt = ttml.optimizers.AdamW(model.parameters(), ttml.optimizers.AdamWConfig.make(lr=1e-2, weight_decay=0.0))
    sched = ttml.schedulers.CosineScheduler(opt, 300)
    x, y = toy_data()
    losses = train(model, opt, sched, 300, x, y)
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])
    assert opt.get_lr() < 1e-2 / 10 and opt.get_steps() == 300
    model.eval()
    assert not model.training and not model.fc1.training


def test_schedulers():
    model = ttml.modules.LinearLayer(2, 1)
    opt = ttml.optimizers.SGD(model.parameters(), ttml.optimizers.SGDConfig.make(lr=1.0))
    s = ttml.schedulers.WarmupLinearScheduler(opt, 100)
    assert opt.get_lr() == 0.0
    for _ in range(10):
        s.step()
    assert abs(opt.get_lr() - 1.0) < 1e-6
    harness.raises(ttml.ConfigError, ttml.schedulers.CosineScheduler, opt, 10, nonsense=1)


def test_checkpoint_round_trip():
    ctx.set_seed(11)
    model = MLP()
    opt = ttml.optimizers.AdamW(model.parameters(), ttml.optimizers.AdamWConfig.make(lr=1e-2))
    x, y = toy_data()
    train(model, opt, ttml.schedulers.IdentityScheduler(opt), 3, x, y)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        ttml.checkpoint.save(path, model, opt, step=3)
        other = MLP()
        opt2 = ttml.optimizers.AdamW(other.parameters(), ttml.optimizers.AdamWConfig.make(lr=1e-2))
        reader = ttml.checkpoint.load(path, other, opt2)
        names = ttml._ttml.SafetensorsReader(path).names()
    assert "fc1.weight" in names and "optim.fc1.weight.exp_avg" in names, names
    assert reader.metadata("step") == "3" and reader.metadata("format") == "ttml-train-state-1"
    assert opt2.get_steps() == 3
    with ttml.autograd.no_grad():
        assert np.array_equal(model(x).to_numpy(), other(x).to_numpy())
    a = train(model, opt, ttml.schedulers.IdentityScheduler(opt), 2, x, y)
    b = train(other, opt2, ttml.schedulers.IdentityScheduler(opt2), 2, x, y)
    assert np.allclose(a, b, rtol=1e-6), (a, b)


def lm_batch(vocab, seq, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, (batch, seq + 1)).astype(np.uint32)
    return (T.from_numpy(ids[:, :seq].reshape(batch, 1, 1, seq), new_type=2),
            T.from_numpy(ids[:, 1:], new_type=2))


def test_language_models_train():
    for name, model in (
            ("nanogpt", ttml.models.nanogpt.create_nanogpt(ttml.models.nanogpt.NanoGPTConfig(
                vocab_size=32, block_size=16, n_embd=32, n_layer=2, n_head=2, dropout=0.0))),
            ("llama", ttml.models.llama.create_llama_model(ttml.models.llama.LlamaConfig(
                vocab_size=32, max_sequence_length=16, embedding_dim=32, num_blocks=2, num_heads=4,
                num_groups=2)))):
        x, y = lm_batch(32, 16)
        opt = ttml.optimizers.AdamW(model.parameters(), ttml.optimizers.AdamWConfig.make(lr=3e-3))
        losses = []
        for _ in range(30):
            opt.zero_grad()
            logits = model(x)
            assert logits.shape == (2, 1, 16, 32), logits.shape
            loss = ops.loss.cross_entropy_loss(logits, y, reduce=ops.ReduceType.MEAN)
            loss.backward(False)
            losses.append(loss.item())
            opt.step()
            ctx.reset_graph()
        assert losses[-1] < losses[0] - 1.0, (name, losses[0], losses[-1])


TINY_LM = """training_config:
  seed: 5
  batch_size: 2
  max_steps: 2
  learning_rate: 1.0e-3
  optimizer_type: adamw
  model_type: nanogpt
  model_path: %s
  log_interval: 1
  transformer_config: {num_heads: 2, embedding_dim: 32, num_blocks: 1, max_sequence_length: 16,
                       dropout_prob: 0.0}
device_config: {device: cpu}
data_config: {type: text, path: %s}
"""


def test_load_ttml_run_checkpoint():
    """A checkpoint ttml-run wrote loads into the same model built from
    Python (same parameter and optimizer-state names)."""
    if not os.path.exists("bin/ttml-run"):
        print("  (no bin/ttml-run here; skipped)")
        return
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "text.txt")
        with open(data, "w") as f:
            f.write("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ.\n" * 40)
        ck = os.path.join(d, "lm.safetensors")
        cfg = os.path.join(d, "lm.yaml")
        with open(cfg, "w") as f:
            f.write(TINY_LM % (ck, data))
        out = subprocess.run(["bin/ttml-run", cfg, "-q"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        r = ttml._ttml.SafetensorsReader(ck)
        vocab = int(r.metadata("vocab_size"))
        model = ttml.models.nanogpt.create_nanogpt(vocab_size=vocab, block_size=16, n_embd=32, n_layer=1,
                                                   n_head=2, dropout=0.0)
        opt = ttml.optimizers.AdamW(model.parameters(), ttml.optimizers.AdamWConfig.make(lr=1e-3))
        reader = ttml.checkpoint.load(ck, model, opt)
        assert reader.metadata("model_type") == "nanogpt" and opt.get_steps() == 2
        names = set(r.names())
        assert set(model.parameters()) <= names
        tok = ttml.common.data.CharTokenizer(r.metadata("tokenizer"))
        assert tok.vocab_size <= vocab
        w = model.parameters()[sorted(model.parameters())[0]]
        stored = T.from_numpy(np.zeros(w.shape, np.float32))
        r.load(sorted(model.parameters())[0], stored)
        assert np.array_equal(stored.to_numpy(), w.to_numpy())


harness.run(dict(globals()))
