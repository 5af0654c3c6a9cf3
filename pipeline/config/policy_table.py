"""The reviewed decision for every key of Axolotl's config: what a merged config may make the GPU runner do.

This is the allow-list of docs/security.md. Every key of `AxolotlInputConfig` (Axolotl 0.19) is
in exactly one table below; a key that is in none (a new Axolotl release grew it) is refused
by policy.py until someone reviews it and adds it here, with tests/unit/config/test_policy.py failing
meanwhile. To add a key: read what Axolotl does with it (grep its source for the key), then
put it in VALUES if it only tunes training, or in the table that says why it is special.
"""

from __future__ import annotations

from enum import StrEnum


def words(text: str) -> frozenset[str]:
    """A table of key names written as text, wrapped like prose, so a reviewer reads it at a glance."""
    return frozenset(text.split())


class KeyClass(StrEnum):
    VALUE = "value"  # tunes training; any value the schema accepts is fine
    WORKSPACE_PATH = "workspace-path"  # a path training writes or reads: must stay inside the run's workspace
    MODEL_SOURCE = "model-source"  # where the model or tokenizer comes from: a Hub repo id or a local folder
    DATASETS = "datasets"  # a list of dataset entries, each checked by the dataset policy
    NESTED = "nested"  # a mapping whose own keys are checked by a table of their own
    ALLOW_LISTED = "allow-listed"  # loads code: refused unless [tool.haha] names it
    REFUSED = "refused"  # reviewed, and never for the runner; the reason says why
    HAHA = "haha"  # haha's own key: read by the pipeline, stripped before Axolotl sees the config


# haha's own keys: not Axolotl's, read by the pipeline and removed from the config Axolotl runs
# (config/effective.py). Each says what the pipeline does with it.
HAHA: dict[str, str] = {
    "haha_parent": "starts from another config's published adapter, merged into the base model (config/lineage.py)",
    "haha_runner": "the runner class of [tool.haha.runners] it trains on, over every rule (plan/runners.py)",
    "haha_reward": "the reward config whose published adapter scores GRPO's completions (config/grpo.py)",
}

# Keys that haha's own Axolotl plugins add to the schema; the pipeline adds the plugin when a config sets one
# (config/effective.py), so they tune training like VALUES.
PLUGIN_KEYS: dict[str, str] = {
    "prompt_loss_weight": "the prompt tokens' weight in the loss, 0 to 1 (train/prompt_loss.py)",
}

# Loading code, allowed only when `[tool.haha]` names what is loaded.
ALLOW_LISTED: dict[str, str] = {
    "plugins": "imports Python modules by name; allowed only when named in [tool.haha] allowed_plugins",
    "trust_remote_code": "runs the Hub repo's Python; allowed only for [tool.haha] trust_remote_code_models at "
                         "their pinned revision",
    "chat_template_jinja": "a custom Jinja template runs in the tokenizer (a loop in it hangs training); allowed "
                           "only when its sha256 is in [tool.haha] allowed_chat_templates, and never as a path",
}

# Reviewed and refused: each reason completes "this key ...", saying what the runner would otherwise do.
REFUSED: dict[str, str] = {
    "torchdistx_path": "is put on sys.path and imported (optimizer adamw_anyprecision): it runs any code there",
    "trainer_cls": "imports a trainer class by dotted path: it runs any code",
    "use_kernels": "downloads compiled kernels from the Hub and runs them",
    "eval_causal_lm_metrics": "loads Hugging Face `evaluate` metric scripts, which run code from the Hub",
    "do_causal_lm_eval": "loads Hugging Face `evaluate` metric scripts, which run code from the Hub",
    "bench_dataset": "downloads a benchmark dataset from outside the repo; data comes from train/data",
    "do_bench_eval": "downloads a benchmark dataset from outside the repo; data comes from train/data",
    "hub_model_id": "makes Axolotl push to the Hub on its own with the runner's token; the pipeline publishes every "
                    "adapter as <org>/<basename>",
    "hub_strategy": "makes Axolotl push to the Hub on its own; the pipeline publishes",
    "hub_revision": "makes Axolotl push to the Hub on its own; the pipeline publishes",
    "push_dataset_to_hub": "makes Axolotl push to the Hub on its own (the prepared dataset, with the runner's token)",
    "wandb_run_id": "writes into another W&B run; the pipeline names each run after its config",
    "use_mlflow": "sends the run to an MLflow server outside the repo's settings",
    "mlflow_tracking_uri": "sends the run (and with hf_mlflow_log_artifacts, checkpoints) to any URI",
    "mlflow_experiment_name": "configures MLflow tracking, which is not part of this pipeline",
    "mlflow_run_name": "configures MLflow tracking, which is not part of this pipeline",
    "hf_mlflow_log_artifacts": "uploads every checkpoint to an MLflow server",
    "use_comet": "sends the run to Comet, outside the repo's settings",
    "comet_api_key": "holds a secret, which does not belong in a committed config",
    "comet_workspace": "configures Comet tracking, which is not part of this pipeline",
    "comet_project_name": "configures Comet tracking, which is not part of this pipeline",
    "comet_experiment_key": "configures Comet tracking, which is not part of this pipeline",
    "comet_mode": "configures Comet tracking, which is not part of this pipeline",
    "comet_online": "configures Comet tracking, which is not part of this pipeline",
    "comet_experiment_config": "configures Comet tracking, which is not part of this pipeline",
    "use_trackio": "syncs the run to a Hugging Face Space with the runner's token",
    "trackio_project_name": "configures trackio tracking, which is not part of this pipeline",
    "trackio_run_name": "configures trackio tracking, which is not part of this pipeline",
    "trackio_space_id": "syncs the run to a Hugging Face Space with the runner's token",
    "use_otel_metrics": "opens a metrics server on the GPU runner",
    "otel_metrics_host": "opens a metrics server on the GPU runner",
    "otel_metrics_port": "opens a metrics server on the GPU runner",
    "use_ray": "starts a Ray cluster from the config; multi-node runs are the operators' decision",
    "ray_num_workers": "starts a Ray cluster from the config; multi-node runs are the operators' decision",
    "ray_run_name": "starts a Ray cluster from the config; multi-node runs are the operators' decision",
    "resources_per_worker": "starts a Ray cluster from the config; multi-node runs are the operators' decision",
    "vllm": "starts a vLLM server on the runner",
    "dynamic_checkpoint": "watches a trigger file at a path of the config's choosing",
    "axolotl_config_path": "points Axolotl at another config file",
}

PATHS: dict[str, KeyClass] = {
    "output_dir": KeyClass.WORKSPACE_PATH,
    "dataset_prepared_path": KeyClass.WORKSPACE_PATH,
    "resume_from_checkpoint": KeyClass.WORKSPACE_PATH,
    "lora_model_dir": KeyClass.WORKSPACE_PATH,
    "deepspeed": KeyClass.WORKSPACE_PATH,  # a path to a JSON file, or the JSON itself as a mapping
    "base_model": KeyClass.MODEL_SOURCE,
    "base_model_config": KeyClass.MODEL_SOURCE,
    "tokenizer_config": KeyClass.MODEL_SOURCE,
    "datasets": KeyClass.DATASETS,
    "test_datasets": KeyClass.DATASETS,
    "pretraining_dataset": KeyClass.DATASETS,
}

# Mappings passed on to transformers or TRL: their keys are checked against these tables.
# `trust_remote_code` and `auto_map` are refused at any depth of any mapping (policy.py).
NESTED: dict[str, dict[str, str]] = {
    # from_pretrained(**model_kwargs): only arguments that shape the model, none that fetch or run anything
    "overrides_of_model_kwargs": {
        key: "value" for key in ("attn_implementation", "dtype", "torch_dtype", "low_cpu_mem_usage", "use_cache",
                                 "rope_scaling", "output_router_logits", "sliding_window", "max_position_embeddings",
                                 "use_flash_attention_2", "num_labels", "ignore_mismatched_sizes")},
    "trl": {
        "reward_funcs": "refused: imports reward functions by dotted path (code); name a reward config in "
                        "train/config with haha_reward instead",
        "rollout_func": "refused: imports a rollout function by dotted path (code); GRPO generates with the "
                        "policy, scored by the reward config named in haha_reward",
        "reward_processing_classes": "refused: a tokenizer for a reward function haha does not load; the "
                                     "haha_reward model brings its own",
        "use_vllm": "refused: starts or calls a vLLM server",
        "vllm_server_host": "refused: calls a vLLM server",
        "vllm_server_port": "refused: calls a vLLM server",
        # The rest of Axolotl 0.19's TRL schema, reviewed: numbers, switches and sampling settings for GRPO's own
        # generation and loss. The other vllm_* keys and the async/streaming ones act only with use_vllm (refused)
        # or with reward functions that are code (refused); generation_kwargs and chat_template_kwargs reach
        # GenerationConfig and the chat template, where trust_remote_code and auto_map stay refused at any depth.
        # A key a later Axolotl adds is not reviewed until it is listed (tests/unit/config/test_grpo.py walks the
        # schema).
        **{key: "value" for key in (
            "beta", "max_completion_length", "vllm_mode", "vllm_server_timeout", "vllm_guided_decoding_regex",
            "reward_weights", "generation_batch_size", "num_generations", "log_completions",
            "num_completions_to_print", "importance_sampling_level", "sync_ref_model", "ref_model_mixup_alpha",
            "ref_model_sync_steps", "scale_rewards", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
            "generation_kwargs", "chat_template_kwargs", "num_iterations", "epsilon", "epsilon_high",
            "use_liger_loss", "loss_type", "mask_truncated_completions", "entropy_coef", "use_adaptive_entropy",
            "entropy_target", "entropy_coef_delta", "entropy_coef_min", "entropy_coef_max",
            "vllm_importance_sampling_clip_min", "vllm_importance_sampling_clip_max", "log_multimodal",
            "vllm_enable_sleep_mode", "multi_objective_aggregation", "use_data_producer", "async_prefetch",
            "prefetch_depth", "vllm_sync_interval", "streaming_partial_batch", "streaming_min_groups",
            "vllm_importance_sampling_correction", "vllm_importance_sampling_mode", "vllm_importance_sampling_cap",
            "off_policy_mask_threshold", "use_bias_correction_kl", "reward_num_workers", "replay_buffer_size",
            "replay_recompute_logps", "reroll_start_fraction", "reroll_max_groups", "skip_zero_advantage_batches",
            "vllm_lora_sync")},
    },
    # the processor's from_pretrained(**processor_kwargs): how pictures are sized into image tokens, nothing that
    # fetches (token, cache_dir, subfolder, proxies) or runs anything (Axolotl rejects revision, trust_remote_code)
    "processor_kwargs": {
        key: "value" for key in ("min_pixels", "max_pixels", "size", "crop_size", "image_seq_length", "patch_size",
                                 "do_resize", "do_center_crop", "do_image_splitting", "max_image_tiles", "num_crops",
                                 "longest_edge", "shortest_edge", "max_image_size", "use_fast", "padding_side")},
}
# overrides_of_model_config (`model_config:`) sets attributes on the model's config: values only (auto_map is
# refused wherever it appears).
NESTED_ANY_VALUE = ("overrides_of_model_config",)

VALUES = words("""
accelerator_config activation_offloading adam_beta1 adam_beta2 adam_beta3 adam_epsilon adam_epsilon2 adapter
added_tokens_overrides attn_implementation auto_find_batch_size auto_resume_from_checkpoints batch_flattening
batch_size bench_split bf16 bfloat16 bnb_config_kwargs center_rewards_coefficient chat_template chat_template_kwargs
chunked_cross_entropy chunked_cross_entropy_num_chunks cls_model_config context_parallel_size
cosine_constant_lr_ratio cosine_min_lr_ratio cpo_alpha curriculum_sampling dataloader_drop_last
dataloader_num_workers dataloader_pin_memory dataloader_prefetch_factor dataset_exact_deduplication
dataset_keep_in_memory dataset_num_proc dataset_processes dataset_shard_idx dataset_shard_num ddp
ddp_broadcast_buffers ddp_bucket_cap_mb ddp_find_unused_parameters ddp_timeout deepcompile default_system_message
device device_map dion_lr dion_momentum dion_rank_fraction dion_rank_multiple_of dp_replicate_size dp_shard_size
dpo_beta dpo_generate_during_eval dpo_label_smoothing dpo_loss_type dpo_loss_weights dpo_norm_loss dpo_padding_free
dpo_use_liger_kernel dpo_use_logits_to_keep dpo_use_weighting eaft_alpha eaft_k eager_attention
early_stopping_patience ebft embedding_lr embedding_lr_scale embeddings_skip_upcast eot_tokens eval_batch_size
eval_max_new_tokens eval_sample_packing eval_sequence_len eval_steps eval_strategy eval_table_size evals_per_epoch
evaluation_strategy excess_length_strategy experimental_skip_move_to_device experts_implementation
fix_untrained_tokens flash_attention flash_attn_cross_entropy flash_attn_d512 flash_attn_fuse_mlp
flash_attn_rms_norm flash_optimum flex_attention flex_attn_compile_kwargs float16 float32 fp16 fp32_norm_classes
fp32_norms fp8 fp8_config fp8_enable_fsdp_float8_all_gather freeze_mm_modules fsdp fsdp_config
fsdp_final_state_dict_type fsdp_version fused_attn_kernel gc_collect_steps gc_steps gemma4_hybrid_attn_impl
generate_samples generation_do_sample generation_max_new_tokens generation_prompt_ratio generation_temperature
generation_top_k generation_top_p gptq gpu_memory_limit gradient_accumulation_steps gradient_checkpointing
gradient_checkpointing_kwargs gradio_max_new_tokens gradio_server_name gradio_server_port gradio_share
gradio_temperature gradio_title greater_is_better group_by_length heads_k_stride hf_use_auth_token
image_resize_algorithm image_size include_tkps include_tokens_per_second is_falcon_derived_model
is_llama_derived_model is_mistral_derived_model is_preprocess is_qwen_derived_model jagged_restart_anneal_steps
jagged_restart_steps jagged_restart_warmup_steps kto_desirable_weight kto_undesirable_weight large_head_attention
layer_offloading learning_rate lisa_layers_attribute lisa_n_layers lisa_step_interval llama4_linearized_experts
load_best_model_at_end load_in_4bit load_in_8bit local_rank logging_steps lora_alpha lora_alpha_pattern
lora_dropout lora_embedding_kernel lora_fan_in_fan_out lora_mlp_kernel lora_modules_to_save lora_o_kernel
lora_on_cpu lora_qkv_kernel lora_r lora_rank_pattern lora_target_linear lora_target_modules lora_target_parameters
loraplus_lr_embedding loraplus_lr_ratio loss_watchdog_patience loss_watchdog_threshold low_cpu_mem_usage
lr_div_factor lr_groups lr_quadratic_warmup lr_scheduler lr_scheduler_kwargs max_grad_norm max_memory
max_packed_sequence_len max_prompt_len max_steps mean_resizing_embeddings merge_lora merge_method
metric_for_best_model micro_batch_size min_sample_len model_quantization_config model_quantization_config_kwargs
multipack_real_batches neftune_noise_alpha noisy_embedding_alpha num_dataset_shards_to_save num_epochs
num_generation_samples num_labels optim_args optim_target_modules optimizer orpo_alpha pad_to_multiple_of
pad_to_sequence_len peft peft_autocast_adapter_dtype peft_ensure_weight_tying peft_init_lora_weights
peft_layer_replication peft_layers_pattern peft_layers_to_transform peft_trainable_token_indices peft_use_dora
peft_use_rslora ple_cpu_offload pose_max_context_len pose_num_chunks pose_split_on_token_ids
precompute_ref_log_probs preprocess_iterable pretrain_multipack_attn pretrain_multipack_buffer_size
pretraining_sample_concatenation process_reward_model processor_type profiler_steps
profiler_steps_start qat qgalore_cos_threshold qgalore_gamma_proj qgalore_proj_bits qgalore_proj_group_size
qgalore_proj_quant qgalore_proj_type qgalore_queue_size qgalore_rank qgalore_scale qgalore_update_proj_gap
qlora_sharded_model_loading quantization quantize_moe_experts reinit_weights relora relora_cpu_offload
relora_prune_method relora_prune_ratio remove_unused_columns resize_token_embeddings_to_32x revision_of_model
reward_model ring_attn_func rl rl_beta role_boundaries rope_scaling rpo_alpha s2_attention sage_attention
sample_packing sample_packing_bin_size sample_packing_eff_est sample_packing_group_size
sample_packing_mp_start_method sample_packing_sequentially save_first_step save_only_model save_safetensors
save_steps save_strategy save_total_limit saves_per_epoch scaling_softmax scaling_softmax_bias
scaling_softmax_factor sdp_attention sdpa_varlen seed selective_checkpointing sequence_len
sequence_parallel_degree shrink_embeddings shuffle_before_merging_datasets shuffle_merged_datasets simpo_gamma
skip_prepare_dataset special_tokens streaming streaming_multipack_buffer_size strict tensor_parallel_size tf32
tiled_mlp tiled_mlp_num_shards tiled_mlp_use_original_mlp tokenizer_legacy tokenizer_save_jinja_files
tokenizer_type tokenizer_use_fast tokenizer_use_mistral_common tokens torch_compile torch_compile_backend
torch_compile_mode torch_compile_options torch_empty_cache_steps total_num_tokens total_supervised_tokens
train_on_inputs type_of_model unfrozen_parameters use_eaft use_onebitllms use_pose use_tensorboard use_wandb
val_set_size wandb_entity wandb_log_model wandb_mode wandb_name wandb_project wandb_watch warmup_ratio warmup_steps
weight_decay world_size xformers_attention
""")

# Keys of one dataset entry (Axolotl's SFT, DPO, KTO, pretraining, stepwise and synthetic dataset models).
DATASET_VALUES = words("""
conversation drop_system_message ds_type field field_chosen field_human field_messages field_model field_rejected
field_thinking field_tools input_format length logprobs_field max_completion_length max_input_id
message_field_content message_field_role message_field_training message_field_training_detail
message_property_mappings min_input_id name preprocess_shards revision roles roles_to_train seed sequence_length
shards shards_idx skip split split_thinking step_separator temperature template_thinking_key text_column
train_on_eos train_on_eot train_on_last_step_only chat_template
""")
# Dataset types Axolotl formats with its own handlers rather than a prompt-strategy module
# (axolotl.utils.data.wrappers.DATASET_HANDLERS; tests/unit/config/test_policy.py checks this copy against it, since
# importing the wrappers takes seconds).
DATASET_HANDLER_TYPES = frozenset({"alpaca", "explainchoice", "concisechoice", "summarizetldr", "jeopardy", "oasst",
                                   "gpteacher", "reflection"})
DATASET_SPECIAL: dict[str, str] = {
    "path": "a file in train/data, or a Hub dataset id pinned by `revision` to a full commit id",
    "type": "one of Axolotl's built-in prompt strategies, or a user-defined field mapping",
    "chat_template_jinja": ALLOW_LISTED["chat_template_jinja"],
    "trust_remote_code": "refused: runs a dataset's loading script",
    "data_files": "a Hub dataset's files, by their names in the repo; for a file in train/data, name it in path",
    "input_transform": "refused unless it names one of Axolotl's built-in message transforms",
}
