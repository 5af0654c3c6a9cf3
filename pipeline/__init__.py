"""haha: config-driven LoRA fine-tuning of joke-writing LLMs with Axolotl."""

__version__ = "0.1.0"
