"""The same Python program on other ttml devices: ttsim (chosen by
open_device("ttsim:...")) and the profiler layer (chosen by TTML_DEVICE)."""
import os
import subprocess
import sys

import numpy as np

import harness
import ttml

T = ttml.autograd.Tensor
ops = ttml.ops


def linear_regression(ctx):
    ctx.set_seed(42)
    model = ttml.models.linear_regression.create_linear_regression_model(2, 1)
    opt = ttml.optimizers.SGD(model.parameters(), ttml.optimizers.SGDConfig.make(lr=0.1))
    rng = np.random.default_rng(42)
    x = rng.standard_normal((256, 2)).astype(np.float32)
    y = (x @ np.array([[2.0], [-1.0]])).astype(np.float32)
    for epoch in range(5):
        for i in range(0, 256, 32):
            opt.zero_grad()
            loss = ops.loss.mse_loss(model(T.from_numpy(x[i:i + 32].reshape(32, 1, 1, 2))),
                                     T.from_numpy(y[i:i + 32].reshape(32, 1, 1, 1)), ops.ReduceType.MEAN)
            loss.backward(False)
            opt.step()
            ctx.reset_graph()
    model.eval()
    return float(model(T.from_numpy(np.ones((1, 1, 1, 2), np.float32))).to_numpy().flatten()[0])


def test_ttsim():
    ctx = ttml.autograd.AutoContext.get_instance()
    name = ctx.open_device("ttsim:wormhole_b0")
    assert name.startswith("ttsim"), name
    assert ctx.get_device()["driver"] == "ttsim"
    p = linear_regression(ctx)
    assert abs(p - 1.0) < 0.02, p        # bf16 storage
    ctx.close_device()


def test_profiler_layer():
    ctx = ttml.autograd.AutoContext.get_instance()
    ctx.open_device("profiler:cpu")
    assert "%.4f" % linear_regression(ctx) == "%.4f" % LINREG_CPU
    ctx.close_device()


def test_device_from_environment():
    code = ("import ttml\nfrom test_devices import linear_regression\n"
            "ctx = ttml.autograd.AutoContext.get_instance()\nprint(ctx.open_device())\n"
            "print('%.4f' % linear_regression(ctx))\n")
    env = dict(os.environ, TTML_DEVICE="ttsim:blackhole,storage=fp32", TTML_DEVICES_CHILD="1")
    env["PYTHONPATH"] = os.path.dirname(os.path.abspath(__file__)) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert "blackhole" in lines[0] and abs(float(lines[-1]) - 1.0) < 2e-3, out.stdout


def test_numpy_first_gets_ttml_run_kernels():
    """NumPy loads OpenBLAS before ttml (the guide imports numpy first); the
    cpu driver still runs the kernels ttml-run picks (see cpu_blas.c)."""
    if not os.path.exists("bin/ttml-inspect"):
        return
    insp = subprocess.run(["bin/ttml-inspect", "cpu"], capture_output=True, text=True, timeout=120).stdout
    want = [l.split("(OpenBLAS core ")[1].rstrip(")") for l in insp.splitlines() if "OpenBLAS core" in l][0]
    code = ("import numpy as np\nnp.ones((64, 64)) @ np.ones((64, 64))\nimport ttml\n"
            "ctx = ttml.autograd.AutoContext.get_instance()\nctx.open_device('cpu')\n"
            "print(ctx.get_device()['arch'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert ("OpenBLAS core %s)" % want) in out.stdout, (want, out.stdout)


if os.environ.get("TTML_DEVICES_CHILD") != "1":
    _ctx = ttml.autograd.AutoContext.get_instance()
    _ctx.open_device("cpu")
    LINREG_CPU = linear_regression(_ctx)
    harness.run(dict(globals()))
