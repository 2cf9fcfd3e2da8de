"""ttml.ops.matmul: matmul(a, b, transpose_a=False, transpose_b=False), batched."""
from .. import _ttml

matmul = _ttml.matmul
matmul_op = _ttml.matmul
