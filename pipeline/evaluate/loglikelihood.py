"""Log-likelihoods of continuations after a context, batched: what `pairwise` and `multiple_choice` score with.

As lm-evaluation-harness does: the continuation's tokens are scored given the context's, their
log-probabilities summed. Rows are right-padded into batches of similar length; each row's
scores are read at its own positions, so padding never enters a sum (in float32 a row scores
the same alone or in a batch, to rounding). Pure torch on a loaded model; no sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.evaluate.model import ModelHandle


@dataclass(frozen=True)
class Scored:
    """One continuation's summed log-probability, and whether every token was the model's argmax (greedy)."""

    loglikelihood: float
    greedy: bool


def continuation_ids(model: ModelHandle, continuations: Sequence[str]) -> list[list[int]]:
    return [list(model.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in continuations]


def score_continuations(model: ModelHandle, contexts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]],
                        batch_size: int = 32) -> list[Scored]:
    """Each (context, continuation) pair's score, in the order given."""
    import torch

    rows = [(list(context), list(continuation)) for context, continuation in zip(contexts, continuations, strict=True)]
    if any(not continuation for _, continuation in rows):
        raise ValueError("an empty continuation has no likelihood to score")
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]) + len(rows[i][1]))
    found: dict[int, Scored] = {}
    device = model.model.device
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        width = max(len(rows[i][0]) + len(rows[i][1]) for i in batch)
        ids = torch.full((len(batch), width), model.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, index in enumerate(batch):
            sequence = rows[index][0] + rows[index][1]
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        with torch.no_grad():
            logits = model.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        for row, index in enumerate(batch):
            context, continuation = rows[index]
            positions = torch.arange(len(context) - 1, len(context) + len(continuation) - 1, device=device)
            targets = torch.tensor(continuation, device=device)
            # only the continuation's positions: a softmax over the whole vocabulary at every position of every
            # row would cost more than the forward pass on a CPU
            picked = torch.log_softmax(logits[row, positions].float(), dim=-1)
            found[index] = Scored(float(picked.gather(1, targets[:, None]).sum()),
                                  bool((picked.argmax(-1) == targets).all()))
    return [found[i] for i in range(len(rows))]
