"""What a config needs installed on the GPU runner, checked before the run instead of failing on the GPU.

The GPU runner installs gpu-requirements.txt (`make setup-gpu`): this project's dependencies, as resolved here,
plus what that file adds (flash-attn, DeepSpeed). Whatever else Axolotl can use is not in it: `gptq: true`
needs gptqmodel (transformers' GPTQ backend), a plugin may need its own package. A config that needs one the
environment lacks fails validation with the package named, since Axolotl would otherwise import it only after
the base model's download. A repo without gpu-requirements.txt has its project dependencies only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.config.plugins import listed_plugins
from pipeline.core.settings import Settings
from pipeline.models.vision_twin import needs_torchvision

PROJECT = "haha"


@dataclass(frozen=True)
class Need:
    """A package that configs setting `key` this way need at run time."""

    key: str
    package: str  # the distribution's name on PyPI
    applies: Callable[[Mapping[str, Any]], bool]
    why: str


def _plugin(prefix: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda data: any(plugin.startswith(prefix) for plugin in listed_plugins(data))


NEEDS = (
    Need("deepspeed", "deepspeed", lambda data: bool(data.get("deepspeed")),
         "Axolotl hands the trainer a DeepSpeed config, and accelerate imports deepspeed to run it"),
    Need("gptq", "gptqmodel", lambda data: bool(data.get("gptq")),
         "transformers loads GPTQ-quantized weights through gptqmodel"),
    Need("plugins", "cut-cross-entropy", _plugin("axolotl.integrations.cut_cross_entropy"),
         "the Cut Cross Entropy plugin imports cut_cross_entropy"),
    Need("processor_type", "torchvision", needs_torchvision,
         "transformers builds this family's processor with its video processor, which imports torchvision"),
)


def canonical(name: str) -> str:
    """PyPI's normalized form of a distribution name (PEP 503): `Cut_Cross.Entropy` is `cut-cross-entropy`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def resolved_environment(project: str = PROJECT) -> frozenset[str]:
    """Every distribution the project's dependencies pull in, as installed here (markers applied, no extras)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    pending = [project]
    while pending:
        name = canonical(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return frozenset(seen)


def declared(path: Path) -> frozenset[str]:
    """The distributions a requirements file names (comments, options and blank lines skipped)."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = set()
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            try:
                names.add(canonical(Requirement(text).name))
            except InvalidRequirement:
                continue
    return frozenset(names)


def gpu_environment(settings: Settings) -> frozenset[str]:
    return resolved_environment() | declared(settings.gpu_requirements)


def needs_of(data: Mapping[str, Any]) -> list[Need]:
    """Pure: the packages beyond the usual that this config needs."""
    return [need for need in NEEDS if need.applies(data)]


def missing_packages(needs: list[Need], environment: frozenset[str]) -> list[tuple[str, str]]:
    """Pure: (key, message) for each needed package the GPU environment does not install."""
    return [(need.key, f"needs the {need.package} package, which the GPU runner's environment does not install "
                       f"({need.why}); add it to gpu-requirements.txt (the runner's environment) once it "
                       "installs there, or drop the key")
            for need in needs if canonical(need.package) not in environment]
