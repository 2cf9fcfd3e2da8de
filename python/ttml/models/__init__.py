"""ttml.models: the model plugins by TT-Train's names."""
from . import linear_regression, nanogpt, llama  # noqa: F401
from ..modules import create_model, NativeModel  # noqa: F401
