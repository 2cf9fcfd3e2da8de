"""ttml.models.nanogpt: TT-Train's NanoGPTConfig / create_nanogpt over the
transformer plugin's nanogpt (GPT-2) model."""
import dataclasses

from ..modules import create_model


@dataclasses.dataclass
class NanoGPTConfig:
    """nanoGPT's names; the transformer_config key each becomes is noted."""
    vocab_size: int = 96            # vocab_size (rounded up to a multiple of 32)
    block_size: int = 128           # max_sequence_length
    n_embd: int = 384               # embedding_dim
    n_layer: int = 6                # num_blocks
    n_head: int = 6                 # num_heads
    dropout: float = 0.2            # dropout_prob
    bias: bool = True               # bias
    weight_tying: bool = True       # weight_tying
    runner_type: str = "default"    # "memory_efficient": gradient checkpointing
    valid_vocab_size: int = 0       # columns the loss and sampling use (0: vocab_size)

    def transformer_config(self):
        c = {"vocab_size": int(self.vocab_size), "max_sequence_length": int(self.block_size),
             "embedding_dim": int(self.n_embd), "num_blocks": int(self.n_layer),
             "num_heads": int(self.n_head), "dropout_prob": float(self.dropout), "bias": bool(self.bias),
             "weight_tying": "enabled" if self.weight_tying else "disabled",
             "runner_type": self.runner_type}
        if self.valid_vocab_size:
            c["valid_vocab_size"] = int(self.valid_vocab_size)
        return c


def create_nanogpt(config=None, **overrides):
    """A NanoGPT (GPT-2 architecture) model: model(ids [B,1,1,S] u32, mask=None) -> logits [B,1,S,V]."""
    config = dataclasses.replace(config or NanoGPTConfig(), **overrides)
    return create_model("nanogpt", **config.transformer_config())


GPT2Config = NanoGPTConfig
create_gpt2 = create_nanogpt
