"""The Axolotl plugin behind `prompt_loss_weight` (the loss itself is in prompt_loss.py).

Imported by Axolotl in the training child only, from the `plugins:` entry the effective config adds.
"""

from __future__ import annotations

from typing import Any

from axolotl.integrations.base import BasePlugin

from pipeline.config.prompt_loss import KEY
from pipeline.train.prompt_loss import weighted_loss


class PromptLossWeightPlugin(BasePlugin):  # type: ignore[misc]
    """The weighted loss in place of the trainer's own, when the config sets `prompt_loss_weight`."""

    def get_input_args(self) -> str:
        return "pipeline.config.prompt_loss.PromptLossWeightArgs"

    def post_trainer_create(self, cfg: Any, trainer: Any) -> None:
        weight = cfg.get(KEY)
        if weight is None:
            return

        def compute_loss(model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            # Packed batches may carry position ids and no attention mask: then every token is real.
            mask = inputs.get("attention_mask")
            mask = mask if mask is not None else inputs["input_ids"].new_ones(inputs["input_ids"].shape)
            loss = weighted_loss(outputs.logits, inputs["input_ids"], labels, mask, float(weight))
            return (loss, outputs) if return_outputs else loss

        trainer.compute_loss = compute_loss
        # The loss is a mean per micro-batch: the trainer must divide it by the accumulation steps itself.
        trainer.model_accepts_loss_kwargs = False
