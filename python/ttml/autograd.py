"""ttml.autograd: TT-Train's AutoContext, Tensor, gradient mode, and
Function for differentiable ops written in Python."""
import contextlib
import enum

from . import _ttml

Tensor = _ttml.Tensor
Shape = _ttml.Shape


class GradMode(enum.IntEnum):
    DISABLED = 0
    ENABLED = 1


class AutoContext:
    """The process-wide context (TT-Train's AutoContext): device, seed,
    autograd graph, gradient mode. Use get_instance()."""

    _instance = None

    @staticmethod
    def get_instance():
        if AutoContext._instance is None:
            AutoContext._instance = AutoContext()
        return AutoContext._instance

    def open_device(self, device=None, *args, **kwargs):
        """Open a device and make it the default: "cpu", "ttsim:wormhole_b0",
        "profiler:cpu", ... None (or TT-Train's mesh shape [1, 1]) takes
        $TTML_DEVICE, else "cpu". Returns the device name."""
        if device is not None and not isinstance(device, str):
            shape = list(device)
            if shape not in ([1, 1], [1]):
                raise UnsupportedError("open_device: ttml runs a 1x1 mesh from Python, got %r" % (shape,))
            device = None
        return _ttml.open_device(device)

    def close_device(self):
        """Close the default device; tensors made on it can no longer be used."""
        _ttml.close_device()

    def get_device(self):
        """The default device's info: name, arch, driver, mem_current, mem_peak, cores, threads."""
        return _ttml.device_info()

    def device_mem_current(self):
        """Bytes the default device has allocated now (DRAM)."""
        return _ttml.device_mem_current()

    def set_seed(self, seed):
        _ttml.set_seed(seed)

    def get_seed(self):
        return _ttml.get_seed()

    def reset_graph(self):
        """Free the recorded graph (after backward or to drop a forward)."""
        _ttml.reset_graph()

    def graph_size(self):
        return _ttml.graph_size()

    def set_gradient_mode(self, mode):
        _ttml.set_grad_enabled(bool(mode))

    def get_gradient_mode(self):
        return GradMode.ENABLED if _ttml.grad_enabled() else GradMode.DISABLED

    def synchronize(self):
        _ttml.synchronize()


from ._ttml import UnsupportedError  # noqa: E402


@contextlib.contextmanager
def no_grad():
    """with ttml.autograd.no_grad(): ... records no graph."""
    prev = _ttml.set_grad_enabled(False)
    try:
        yield
    finally:
        _ttml.set_grad_enabled(prev)


class FunctionContext:
    """The ctx handed to Function.forward / backward."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class Function:
    """A differentiable op written in Python (after torch.autograd.Function):

        class Square(ttml.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return ttml.ops.binary.mul(x, x)
            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return ttml.ops.binary.mul(grad, ttml.ops.binary.mul(x, 2.0))

        y = Square.apply(x)

    forward runs with gradients off and returns one Tensor; backward gets
    the output's gradient and returns one gradient (or None) per argument
    of forward (non-Tensor arguments get None). The result joins the graph,
    so ttml's backward() runs backward() at the right moment."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionContext()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        prev = _ttml.set_grad_enabled(False)
        try:
            out = cls.forward(ctx, *args, **kwargs)
        finally:
            _ttml.set_grad_enabled(prev)
        if not isinstance(out, Tensor):
            raise TypeError("%s.forward must return a ttml.autograd.Tensor, got %s"
                            % (cls.__name__, type(out).__name__))
        if not prev or not any(ctx.needs_input_grad):
            return out
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        n_args = len(args)
        name = cls.__name__

        def backward(grad):
            grads = cls.backward(ctx, grad)
            if not isinstance(grads, (tuple, list)):
                grads = (grads,)
            if len(grads) != n_args:
                raise ValueError("%s.backward returned %d gradients for %d forward arguments"
                                 % (name, len(grads), n_args))
            return tuple(grads[i] for i in positions)

        return _ttml.record_function(out, tuple(args[i] for i in positions), backward)
