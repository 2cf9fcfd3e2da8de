"""ttml.modules: TT-Train's ModuleBase for models written in Python, and
wrappers of the C modules (model plugins, core layers).

    class MLP(ttml.modules.ModuleBase):
        def __init__(self):
            super().__init__()
            self.fc1 = ttml.modules.LinearLayer(2, 16)        # registered by assignment
            self.register_module(ttml.modules.LinearLayer(16, 1), "fc2")   # or explicitly
        def forward(self, x):
            return self.fc2(ttml.ops.unary.relu(self.fc1(x)))

Parameters are named by dotted paths ("fc1.weight"), the names ttml-run's
checkpoints use."""
import numpy as _np

from . import _ttml
from .autograd import Tensor


def Parameter(value):
    """A trainable tensor: a Tensor, or a NumPy array copied to the device.
    Assigning it to a ModuleBase attribute registers it."""
    t = value if isinstance(value, Tensor) else Tensor.from_numpy(_np.asarray(value, dtype=_np.float32))
    t.requires_grad = True
    return t


class ModuleBase:
    """Base of Python modules (TT-Train's ModuleBase)."""

    def __init__(self):
        object.__setattr__(self, "_tensors", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_name", type(self).__name__)

    def _check_init(self):
        if "_tensors" not in self.__dict__:
            raise RuntimeError("%s.__init__ must call super().__init__()" % type(self).__name__)

    def __setattr__(self, name, value):
        if isinstance(value, (ModuleBase, _ttml.NativeModule)):
            self._check_init()
            self._modules[name] = value
        elif isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
            self._check_init()
            self._tensors[name] = value
        object.__setattr__(self, name, value)

    def create_name(self, name):
        object.__setattr__(self, "_name", name)

    def get_name(self):
        return self._name

    def register_tensor(self, tensor, name):
        """Register a trainable tensor (sets requires_grad)."""
        self._check_init()
        tensor.requires_grad = True
        self._tensors[name] = tensor
        return tensor

    def register_module(self, module, name):
        self._check_init()
        self._modules[name] = module
        return module

    def named_modules(self):
        return dict(self._modules)

    def parameters(self):
        """{dotted name: Tensor}, own tensors first, then each child's."""
        out = dict(self._tensors)
        for prefix, m in self._modules.items():
            for name, t in _module_parameters(m).items():
                out[prefix + "." + name] = t
        return out

    def train(self, mode=True):
        object.__setattr__(self, "training", bool(mode))
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("%s must define forward()" % type(self).__name__)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


def _module_parameters(m):
    p = m.parameters()
    return dict(p) if isinstance(p, list) else p


class NativeModel(ModuleBase):
    """A module implemented in C (a model plugin's: linear_regression, mlp,
    nanogpt/gpt2, llama; or a core layer). model(x) runs its forward; extra
    arguments, like the guide's causal mask, are accepted and ignored
    (ttml's attention is causal by construction)."""

    def __init__(self, native):
        super().__init__()
        object.__setattr__(self, "native", native)

    def parameters(self):
        return dict(self.native.parameters())

    def train(self, mode=True):
        object.__setattr__(self, "training", bool(mode))
        self.native.train(mode)
        return self

    def forward(self, x, *ignored, **kw_ignored):
        return self.native(x)

    def num_params(self):
        return self.native.num_params()

    def __repr__(self):
        return "NativeModel(%s, %d parameters)" % (self.native.type, self.native.num_params())


class LinearLayer(NativeModel):
    """PyTorch's nn.Linear (weight [out, in], bias [out]); the core's C layer."""

    def __init__(self, in_features, out_features, has_bias=True):
        super().__init__(_ttml.linear_layer(in_features, out_features, has_bias))


def create_model(model_type, **config):
    """Any registered model by name with its config keys (see ttml-run's
    model_config / transformer_config): create_model("mlp", input_features=2, ...)."""
    from ._config import to_yaml
    return NativeModel(_ttml.create_model(model_type, to_yaml(config) if config else None))
