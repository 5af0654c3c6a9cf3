"""The loss math of `prompt_loss_weight` (config/prompt_loss.py says what the key means), run by the plugin."""


from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

IGNORED = -100


def token_weights(labels: torch.Tensor, attention_mask: torch.Tensor, weight: float) -> torch.Tensor:
    """Per predicted token (positions 1..n): 1 for the completion, `weight` for the prompt, 0 for padding."""
    import torch

    completion = labels[:, 1:] != IGNORED
    real = attention_mask[:, 1:].bool()
    return torch.where(completion, 1.0, torch.where(real, weight, 0.0)).to(torch.float32)


def weighted_loss(logits: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor,
                  attention_mask: torch.Tensor, weight: float) -> torch.Tensor:
    """Mean next-token cross-entropy with prompt tokens weighted by `weight`."""
    import torch

    weights = token_weights(labels, attention_mask, weight)
    losses = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                               input_ids[:, 1:].reshape(-1), reduction="none")
    return (losses * weights.reshape(-1)).sum() / weights.sum().clamp_min(1e-12)
