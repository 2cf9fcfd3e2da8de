"""YAML text for the C side's config readers (no PyYAML needed)."""
import math


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return ".nan" if math.isnan(v) else (".inf" if v > 0 else "-.inf")
        return repr(v)
    if v is None:
        return "null"
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (k, _value(x)) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return _scalar(v)


def to_yaml(mapping):
    """A flow-style YAML mapping of `mapping` (dicts, lists, scalars)."""
    return _value(dict(mapping))
