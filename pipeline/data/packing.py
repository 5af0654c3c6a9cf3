"""How well a config's rows pack, estimated before any GPU time is spent, by Axolotl's own multipack sampler.

With `sample_packing: true` Axolotl fills each micro-batch with whole rows up to `micro_batch_size x
sequence_len` tokens (its packing-capable attention backends keep the rows apart). What share of those
token slots real tokens fill decides how many steps an epoch takes, so validation reports it. The figure
comes from `MultipackBatchSampler.efficiency()` over the rows' tokenized lengths, in file order (training
shuffles them first, so the real figure differs by a point or two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Axolotl's schema defaults for the packing knobs a config may leave unset.
DEFAULT_BIN_SIZE = 200
DEFAULT_GROUP_SIZE = 100_000


@dataclass(frozen=True)
class PackingEstimate:
    rows: int
    bins: int  # packed micro-batches
    capacity: int  # tokens per packed micro-batch
    efficiency: float  # share of the token slots that hold a row's tokens

    def describe(self) -> str:
        batches = "micro-batch" if self.bins == 1 else "micro-batches"
        return (f"{self.rows:,} rows pack into {self.bins:,} {batches} of {self.capacity:,} tokens: "
                f"{round(self.efficiency * 100)} % of the token slots filled (Axolotl's multipack sampler over "
                f"the rows' tokenized lengths)")


def packing_capacity(config: dict[str, Any], sequence_len: int) -> int:
    """Tokens in one packed micro-batch, as Axolotl sizes it when the attention backend supports packing."""
    micro_batch_size = config.get("micro_batch_size")
    if not isinstance(micro_batch_size, int) or isinstance(micro_batch_size, bool) or micro_batch_size < 1:
        micro_batch_size = 1
    return micro_batch_size * sequence_len


def estimate_packing(lengths: list[int], config: dict[str, Any], sequence_len: int) -> PackingEstimate | None:
    """Axolotl's sampler packs `lengths`; None when there is nothing to pack."""
    if not lengths:
        return None
    import numpy as np
    from axolotl.utils.samplers.multipack import MultipackBatchSampler

    capacity = packing_capacity(config, sequence_len)
    sampler = MultipackBatchSampler(
        range(len(lengths)), batch_size=1, batch_max_len=capacity, lengths=np.array(lengths),
        bin_size=config.get("sample_packing_bin_size") or DEFAULT_BIN_SIZE,
        group_size=config.get("sample_packing_group_size") or DEFAULT_GROUP_SIZE,
        sequential=bool(config.get("sample_packing_sequentially")), num_processes=1, drop_last=False,
    )
    bins = len(sampler.generate_batches(set_stats=True))
    efficiency = sampler.efficiency()
    return PackingEstimate(len(lengths), bins, capacity, efficiency if math.isfinite(efficiency) else 0.0)
