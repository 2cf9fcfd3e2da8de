"""ttml.common.data: TT-Train's CharTokenizer (encode -> list of ids,
decode, vocab_size) over ttml's character tokenizer."""
from .. import _ttml

CharTokenizer = _ttml.CharTokenizer
