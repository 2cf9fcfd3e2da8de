"""ttml.models.linear_regression (TT-Train's create_linear_regression_model)."""
from ..modules import create_model


def create_linear_regression_model(in_features, out_features):
    """One nn.Linear layer (parameters linear.weight [out, in], linear.bias [out])."""
    return create_model("linear_regression", in_features=int(in_features), out_features=int(out_features))
