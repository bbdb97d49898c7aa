"""The cross-encoder reader in torch, for fitting and for the one-off ONNX export.

The first `depth` layers of the packaged multilingual-e5-small read the question and one
candidate sentence together. The lower `depth - trained` layers keep the base weights,
so their output is computed once per training pair and reused every epoch; the top
`trained` layers and two small heads are fitted:
  - score: the logit that the sentence answers the question, from the first token, the
    mean of the sentence's tokens and the retrieval features it corrects (cosine, the fast
    selector's score);
  - span: start and end logits over the tokens, SQuAD-style.
"""

from __future__ import annotations

import torch
from torch import nn

EXTRAS = ("cos", "fast_score")  # retrieval evidence handed to the score head


def _mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask (batch, 1, 1, tokens), as the eager attention expects."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _run(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = layer(hidden, attention_mask=mask)
    return out[0] if isinstance(out, tuple) else out


class CrossReader(nn.Module):
    def __init__(self, base: nn.Module, depth: int, trained: int):
        super().__init__()
        if not 0 < trained <= depth <= len(base.encoder.layer):
            raise ValueError(f"depth {depth} / trained {trained} do not fit the base model")
        self.embeddings = base.embeddings
        self.frozen = nn.ModuleList(base.encoder.layer[: depth - trained])
        self.top = nn.ModuleList(base.encoder.layer[depth - trained : depth])
        hidden = base.config.hidden_size
        self.score = nn.Linear(2 * hidden + len(EXTRAS), 1)
        self.span = nn.Linear(hidden, 2)
        for p in [*self.embeddings.parameters(), *self.frozen.parameters()]:
            p.requires_grad_(False)

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The frozen part: embeddings and the base layers."""
        hidden = self.embeddings(input_ids=input_ids)
        mask = _mask(attention_mask, hidden.dtype)
        for layer in self.frozen:
            hidden = _run(layer, hidden, mask)
        return hidden

    def upper(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, second: torch.Tensor, extras: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The fitted part. `second` marks the sentence's tokens (the span may only fall there)."""
        mask = _mask(attention_mask, hidden.dtype)
        for layer in self.top:
            hidden = _run(layer, hidden, mask)
        weights = second.to(hidden.dtype)[:, :, None]
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        features = torch.cat([hidden[:, 0], mean, extras], dim=-1)
        # A weighted sum, not Linear + squeeze: the exported graph of the latter fails
        # onnxruntime's shape inference when quantising.
        score = (features * self.score.weight[0]).sum(-1) + self.score.bias[0]
        start, end = self.span(hidden).unbind(-1)
        closed = torch.finfo(hidden.dtype).min
        return score, start.masked_fill(second == 0, closed), end.masked_fill(second == 0, closed)

    def forward(self, input_ids, attention_mask, second, extras):
        return self.upper(self.lower(input_ids, attention_mask), attention_mask, second, extras)
