"""ttml.common: data helpers (TT-Train's ttml.common)."""
from . import data  # noqa: F401
