"""`prompt_loss_weight`: the prompt's tokens count in the loss with a weight from 0 to 1, as an Axolotl plugin.

Axolotl has only `train_on_inputs: true | false` (weight 1 or 0); the caption-contest trainer's
`--prompt_loss_weight` and GPT-3's `loss_weights` sit in between. With `train_on_inputs: false`
Axolotl's labels mark the prompt's tokens as -100; the plugin replaces the trainer's loss by the
mean cross-entropy over every real token (attention mask 1) weighted 1 for completion tokens and
`prompt_loss_weight` for prompt tokens:

    loss = sum(w_t * ce_t) / sum(w_t)

so weight 0 is `train_on_inputs: false` and weight 1 is `train_on_inputs: true` exactly, and in
between a prompt token's gradient is `prompt_loss_weight` times what it would be at weight 1,
relative to the completion's. The pipeline adds the plugin (prompt_loss_plugin.py, which imports
Axolotl) to the effective config when a config sets the key (config/effective.py); people never
write `plugins:` for it. This module stays light: the policy and the effective config read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import torch

PLUGIN = "pipeline.train.prompt_loss_plugin.PromptLossWeightPlugin"
KEY = "prompt_loss_weight"
IGNORED = -100


class PromptLossWeightArgs(BaseModel):
    """The key the plugin adds to Axolotl's config schema."""

    prompt_loss_weight: float | None = Field(default=None, ge=0.0, le=1.0)


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
