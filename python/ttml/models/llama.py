"""ttml.models.llama: a Llama (RMSNorm, RoPE, grouped-query attention, SwiGLU)."""
import dataclasses

from ..modules import create_model


@dataclasses.dataclass
class LlamaConfig:
    vocab_size: int = 96
    max_sequence_length: int = 128
    embedding_dim: int = 384
    num_blocks: int = 6
    num_heads: int = 6
    num_groups: int = 2             # key/value heads (grouped-query attention)
    dropout_prob: float = 0.0
    theta: float = 10000.0          # RoPE base
    weight_tying: bool = False
    runner_type: str = "default"

    def transformer_config(self):
        c = dataclasses.asdict(self)
        c["weight_tying"] = "enabled" if self.weight_tying else "disabled"
        return c


def create_llama_model(config=None, **overrides):
    config = dataclasses.replace(config or LlamaConfig(), **overrides)
    return create_model("llama", **config.transformer_config())


create_llama = create_llama_model
