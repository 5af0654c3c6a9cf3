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

from pydantic import BaseModel, Field

PLUGIN = "pipeline.train.prompt_loss_plugin.PromptLossWeightPlugin"
KEY = "prompt_loss_weight"


class PromptLossWeightArgs(BaseModel):
    """The key the plugin adds to Axolotl's config schema."""

    prompt_loss_weight: float | None = Field(default=None, ge=0.0, le=1.0)
