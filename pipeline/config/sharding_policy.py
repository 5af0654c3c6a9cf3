"""The allow-list for what `deepspeed:` and `fsdp_config:` hand to DeepSpeed and FSDP, key by key.

Axolotl passes a DeepSpeed config on untouched, and DeepSpeed's own keys reach far: monitors write files
and send metrics anywhere (`tensorboard`, `wandb.team`, `comet.api_key`, `csv_monitor.output_path`), the
flops profiler writes a report where it is told, NVMe offload writes to `nvme_path`. So, like the rest of a
config (policy_table.py), a DeepSpeed config is checked against what haha runs: ZeRO stages 1-3, offload to
`cpu` only, bf16/fp16, `"auto"` batch sizes, gradient clipping and ZeRO's tuning numbers. A reviewed danger
is refused with its reason; any other key as not reviewed. FSDP's options are plain values, each named here.
Pure: a mapping in, (dotted key, message) pairs out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], str | None]
Rule = Check | Mapping[str, "Rule"] | str  # a value check, a nested table, or why the key is refused
NOT_REVIEWED = "is not reviewed for the GPU runner; haha runs ZeRO 1-3, cpu offload, bf16/fp16 and auto batch sizes"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def number(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else f"must be a number, got {value!r}"


def auto_or_number(value: Any) -> str | None:
    good = value == "auto" or (_is_number(value) and value >= 0)
    return None if good else f'must be "auto" or a number, got {value!r}'


def auto_or_boolean(value: Any) -> str | None:
    return None if value == "auto" or isinstance(value, bool) else f'must be "auto", true or false, got {value!r}'


def one_of(*allowed: Any) -> Check:
    def check(value: Any) -> str | None:
        good = any(value == option and type(value) is type(option) for option in allowed)
        return None if good else f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
    return check


def scalar(value: Any) -> str | None:
    plain = isinstance(value, bool | int | float | str) or value is None
    return None if plain else f"must be a plain value, got {type(value).__name__}"


NVME = "offloads to NVMe, which writes wherever nvme_path says: offload to cpu"
OFFLOAD: Mapping[str, Rule] = {"device": one_of("cpu", "none"), "pin_memory": boolean, "buffer_count": number,
                               "buffer_size": number, "max_in_cpu": number, "ratio": number, "fast_init": boolean,
                               "nvme_path": NVME}
ZERO_STAGES = one_of(1, 2, 3, "1", "2", "3")
DEEPSPEED: Mapping[str, Rule] = {
    "train_batch_size": auto_or_number,
    "train_micro_batch_size_per_gpu": auto_or_number,
    "gradient_accumulation_steps": auto_or_number,
    "gradient_clipping": auto_or_number,
    "steps_per_print": number,
    "wall_clock_breakdown": boolean,
    "prescale_gradients": boolean,
    "zero_allow_untested_optimizer": boolean,
    "zero_force_ds_cpu_optimizer": boolean,
    "bf16": {"enabled": auto_or_boolean, "immediate_grad_update": boolean},
    "fp16": {"enabled": auto_or_boolean, "auto_cast": auto_or_boolean, "loss_scale": number,
             "loss_scale_window": number, "initial_scale_power": number, "hysteresis": number,
             "min_loss_scale": number},
    "zero_optimization": {
        "stage": ZERO_STAGES, "overlap_comm": boolean, "contiguous_gradients": boolean, "reduce_scatter": boolean,
        "reduce_bucket_size": auto_or_number, "allgather_partitions": boolean, "allgather_bucket_size": number,
        "round_robin_gradients": boolean, "sub_group_size": number, "stage3_prefetch_bucket_size": auto_or_number,
        "stage3_param_persistence_threshold": auto_or_number, "stage3_max_live_parameters": number,
        "stage3_max_reuse_distance": number, "stage3_gather_16bit_weights_on_model_save": boolean,
        "offload_optimizer": OFFLOAD, "offload_param": OFFLOAD,
    },
    "tensorboard": "writes event files to the path it names, outside the run's workspace",
    "wandb": "sends metrics to the W&B team and project it names; the pipeline names the run",
    "comet": "sends metrics (and an API key) to Comet",
    "csv_monitor": "writes CSV files to the path it names, outside the run's workspace",
    "flops_profiler": "writes its report to the file it names, outside the run's workspace",
    "aio": "tunes NVMe offload, which writes wherever nvme_path says",
    "checkpoint": "chooses where and how DeepSpeed writes checkpoints; the pipeline owns output_dir",
    "elasticity": "changes the batch size and GPU count behind the pipeline's back",
    "autotuning": "launches experiments and writes results to the paths it names",
    "compression_training": "rewrites the model by modules it names",
}
# FSDP's options (Axolotl takes each with or without the `fsdp_` prefix): plain values, none a path or import.
FSDP_CONFIG: Mapping[str, Rule] = {key: scalar for key in (
    "version", "offload_params", "cpu_ram_efficient_loading", "auto_wrap_policy", "transformer_layer_cls_to_wrap",
    "state_dict_type", "sharding_strategy", "reshard_after_forward", "activation_checkpointing",
    "sync_module_states", "use_orig_params", "limit_all_gathers", "backward_prefetch", "forward_prefetch",
    "min_num_params", "cpu_offload_pin_memory", "final_state_dict_type")}


def check_table(value: Any, table: Mapping[str, Rule], where: str, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, message) for every key of `value` that `table` does not allow; `prefix` is one a key may
    carry (FSDP's `fsdp_`)."""
    if not isinstance(value, Mapping):
        return [(where, f"must be a mapping of {', '.join(sorted(k for k in table if not isinstance(table[k], str)))}"
                        f", got {value!r}")]
    found: list[tuple[str, str]] = []
    for key, item in value.items():
        at = f"{where}.{key}" if where else str(key)
        rule = table.get(str(key).removeprefix(prefix) if prefix else str(key))
        if rule is None:
            found.append((at, NOT_REVIEWED))
        elif isinstance(rule, str):
            found.append((at, f"refused: this key {rule}"))
        elif isinstance(rule, Mapping):
            found += check_table(item, rule, at)
        elif (why := rule(item)) is not None:
            found.append((at, why))
    return found


def deepspeed_config_problems(value: Any, where: str = "") -> list[tuple[str, str]]:
    """A DeepSpeed config checked key by key; it must say its ZeRO stage, which is what makes it one."""
    found = check_table(value, DEEPSPEED, where)
    section = value.get("zero_optimization") if isinstance(value, Mapping) else None
    stageless = section is None or (isinstance(section, Mapping) and "stage" not in section)
    if isinstance(value, Mapping) and stageless:
        found.append((f"{where}.zero_optimization" if where else "zero_optimization",
                      "a DeepSpeed config names its ZeRO stage (zero_optimization.stage: 1, 2 or 3)"))
    return found


def fsdp_config_problems(value: Any, where: str = "fsdp_config") -> list[tuple[str, str]]:
    return check_table(value, FSDP_CONFIG, where, prefix="fsdp_")
