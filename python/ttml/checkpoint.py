"""ttml.checkpoint: safetensors files with the names ttml-run writes:
parameters under their dotted names, optimizer state as
"optim.<param>.<state>", metadata "format", "step", "optimizer_steps",
"rng_seed", "rng_counter", ... so a checkpoint moves between Python and
ttml-run (and PyTorch / Hugging Face readers)."""
from . import _ttml

FORMAT = "ttml-train-state-1"


def save(path, model, optimizer=None, step=0, metadata=None):
    """Write model parameters (and optimizer state) atomically to `path`."""
    tensors = list(_params(model).items())
    if optimizer is not None:
        tensors += [("optim.%s.%s" % (p, s), t) for p, s, t in optimizer.state()]
    md = {"format": FORMAT, "ttml_version": _ttml.version, "step": int(step),
          "rng_seed": _ttml.get_seed()}
    if optimizer is not None:
        md["optimizer_steps"] = optimizer.get_steps()
        md["optimizer_type"] = optimizer.name
    md.update(metadata or {})
    _ttml.save_safetensors(str(path), tensors, md)


def load(path, model, optimizer=None, strict=True):
    """Load parameters (and optimizer state) saved by save() or ttml-run.
    Returns a reader for metadata(key). strict: every parameter must be present."""
    r = _ttml.SafetensorsReader(str(path))
    names = set(r.names())
    for name, t in _params(model).items():
        if name in names:
            r.load(name, t)
        elif strict:
            raise _ttml.CheckpointError("checkpoint '%s' has no tensor '%s' (the model does not match)"
                                        % (path, name))
    if optimizer is not None:
        steps = int(r.metadata("optimizer_steps") or 0)
        if steps > 0:
            for p, s, t in optimizer.state(True):
                key = "optim.%s.%s" % (p, s)
                if key in names:
                    r.load(key, t)
        optimizer.set_steps(steps)
    return r


def _params(model):
    p = model.parameters()
    return dict(p) if isinstance(p, list) else p
