"""`haha doctor`: a GPU runner's preflight, so a missing piece fails in seconds instead of after a download.

It probes the machine (`probe_machine`: torch and CUDA, each GPU's free memory, a real 4-bit bitsandbytes
matmul, flash-attn, DeepSpeed, free disk, what `HF_TOKEN` may read and write, whether a W&B key is set),
then judges each config against it (`judge_config`, pure): ready, or the list of what it lacks. The train
job runs it first; on a machine without CUDA it says so and names the configs that cannot run for real.
Secrets are never printed: only whether they are set and what they give access to.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.config.loading import LoadedConfig, load_config
from pipeline.config.sizing import size_config
from pipeline.core.settings import Settings
from pipeline.plan.estimate import BYTES_PER_PARAM, GB, Estimate


class CheckStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    SKIPPED = "skipped"  # not needed by any config, or cannot be checked without something else first


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str


@dataclass(frozen=True)
class Gpu:
    name: str
    free_gb: float
    total_gb: float


@dataclass
class Machine:
    """What the probes found; every field is plain data, so judging a config is a pure function of it."""

    torch: str = ""
    cuda: str | None = None  # torch's CUDA build, None for a CPU build or no device
    gpus: list[Gpu] = field(default_factory=list)
    bitsandbytes: bool = False  # a 4-bit matmul ran on the GPU
    flash_attn: str | None = None  # its version when it imports
    deepspeed: str | None = None
    free_disk_gb: float = 0.0
    hub_user: str | None = None  # whoami with HF_TOKEN; None without a token or when refused
    hub_write_orgs: tuple[str, ...] = ()  # the orgs HF_TOKEN may push to
    readable_models: dict[str, str] = field(default_factory=dict)  # model id -> "" when readable, else why not
    wandb_key: bool = False
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class ConfigNeeds:
    """What one config asks of the machine, read from the config and its estimate."""

    name: str
    base_model: str
    gpus: int
    peak_gb: float  # per GPU, training (the eval's peak is at most this on the classes it fits)
    quantized: bool  # 4- or 8-bit loading, or a bitsandbytes optimizer
    flash_attn: bool
    deepspeed: bool
    download_gb: float  # the base model's weights in bf16 safetensors


@dataclass(frozen=True)
class Verdict:
    config: str
    lacks: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.lacks


def judge_config(needs: ConfigNeeds, machine: Machine, hub_org: str) -> Verdict:
    """Pure: what this config lacks on this machine, in the order a run would hit it."""
    lacks = []
    if machine.cuda is None or not machine.gpus:
        lacks.append("no CUDA device")
    elif len(machine.gpus) < needs.gpus:
        lacks.append(f"{needs.gpus} GPUs (this machine has {len(machine.gpus)})")
    elif (free := min(gpu.free_gb for gpu in machine.gpus[: needs.gpus])) < needs.peak_gb:
        lacks.append(f"~{needs.peak_gb:.0f} GB free on each GPU (the fullest has {free:.0f} GB free)")
    if needs.quantized and not machine.bitsandbytes:
        lacks.append("bitsandbytes with working CUDA kernels (4/8-bit loading or its optimizer)")
    if needs.flash_attn and machine.flash_attn is None:
        lacks.append("flash-attn (the config asks for flash_attention_2)")
    if needs.deepspeed and machine.deepspeed is None:
        lacks.append("deepspeed (the config names a DeepSpeed config)")
    if machine.free_disk_gb < needs.download_gb:
        lacks.append(f"~{needs.download_gb:.0f} GB of free disk for the base model (has {machine.free_disk_gb:.0f})")
    why = machine.readable_models.get(needs.base_model)
    if why:
        lacks.append(f"read access to {needs.base_model} ({why})")
    if machine.hub_user is None:
        lacks.append("an HF_TOKEN the Hub accepts (to fetch gated models and publish)")
    elif hub_org not in machine.hub_write_orgs and hub_org != machine.hub_user:
        lacks.append(f"write access to the Hub org {hub_org} with HF_TOKEN (user {machine.hub_user})")
    return Verdict(needs.name, tuple(lacks))


def needs_of(name: str, config: LoadedConfig, found: Estimate, gpus: int) -> ConfigNeeds:
    data = config.data
    attention = str(data.get("attn_implementation") or "")
    optimizer = str(data.get("optimizer") or "")
    return ConfigNeeds(
        name=name, base_model=str(data.get("base_model") or ""), gpus=gpus, peak_gb=found.train.total,
        quantized=found.load != "16bit" or "bnb" in optimizer or "8bit" in optimizer,
        flash_attn=bool(data.get("flash_attention")) or attention == "flash_attention_2",
        deepspeed=bool(data.get("deepspeed")),
        download_gb=found.shape.params * BYTES_PER_PARAM["16bit"] / GB)


# -- probes (side effects) ---------------------------------------------------------------------------------------------

def _version(module: str) -> str | None:
    try:
        return str(getattr(importlib.import_module(module), "__version__", "?"))
    except Exception:  # a package that is missing, or built for another CUDA, fails in many ways on import
        return None


def _bitsandbytes_matmul() -> str:
    """'' when a 4-bit linear layer runs forward on the GPU, else why not."""
    try:  # deferred, like every import of the training stack here: `haha doctor --help` needs none of it
        import bitsandbytes as bnb
        import torch

        layer = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.bfloat16).to("cuda")
        layer(torch.randn(2, 64, dtype=torch.bfloat16, device="cuda"))
        torch.cuda.synchronize()
    except Exception as exc:  # no CUDA kernels for this GPU or CUDA version: anything can be raised
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
    return ""


def _hub_access(models: Sequence[str]) -> tuple[str | None, tuple[str, ...], dict[str, str], str]:
    """(user, orgs it may write to, model -> why unreadable, why no user) with HF_TOKEN, via the Hub client."""
    from huggingface_hub import HfApi  # deferred: the light verbs run where the Hub client is not installed
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if not os.environ.get("HF_TOKEN"):
        return None, (), dict.fromkeys(models, "HF_TOKEN is not set"), "HF_TOKEN is not set"
    api = HfApi()
    try:
        who = api.whoami()
    except (HfHubHTTPError, OSError, ValueError) as exc:
        reason = f"the Hub refused HF_TOKEN or cannot be reached ({type(exc).__name__})"
        return None, (), dict.fromkeys(models, reason), reason
    orgs = tuple(str(org.get("name")) for org in who.get("orgs", [])
                 if str(org.get("roleInOrg", "write")) in ("admin", "write", "contributor"))
    readable: dict[str, str] = {}
    for model in models:
        try:
            api.auth_check(model)
            readable[model] = ""
        except GatedRepoError:
            readable[model] = "gated: accept its licence with the token's account"
        except RepositoryNotFoundError:
            readable[model] = "not found, or private to another account"
        except (HfHubHTTPError, OSError, ValueError) as exc:
            readable[model] = f"{type(exc).__name__}"
    return str(who.get("name")), orgs, readable, ""


def probe_machine(settings: Settings, models: Sequence[str], want_deepspeed: bool) -> Machine:
    """Every probe, each a row of the table."""
    import torch  # deferred: the training stack loads only when a machine is probed

    machine = Machine(torch=torch.__version__)
    cuda = torch.version.cuda if torch.cuda.is_available() else None
    machine.cuda = cuda
    if cuda is None:
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
        machine.checks.append(Check("CUDA", CheckStatus.MISSING, f"no CUDA device (torch {torch.__version__}, "
                                                                 f"{build})"))
    else:
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            machine.gpus.append(Gpu(torch.cuda.get_device_name(index), free / GB, total / GB))
        listed = "; ".join(f"{g.name} {g.free_gb:.0f}/{g.total_gb:.0f} GB free" for g in machine.gpus)
        machine.checks.append(Check("CUDA", CheckStatus.OK, f"torch {torch.__version__}, CUDA {cuda}: {listed}"))
    why = _bitsandbytes_matmul() if cuda else "needs a CUDA device"
    machine.bitsandbytes = cuda is not None and not why
    machine.checks.append(Check("bitsandbytes", CheckStatus.OK if machine.bitsandbytes else CheckStatus.MISSING,
                                "a 4-bit matmul ran on the GPU" if machine.bitsandbytes else why))
    machine.flash_attn = _version("flash_attn")
    machine.checks.append(Check("flash-attn", CheckStatus.OK if machine.flash_attn else CheckStatus.MISSING,
                                f"flash_attn {machine.flash_attn}" if machine.flash_attn else "does not import"))
    machine.deepspeed = _version("deepspeed")
    status = CheckStatus.OK if machine.deepspeed else CheckStatus.MISSING if want_deepspeed else CheckStatus.SKIPPED
    machine.checks.append(Check("DeepSpeed", status, f"deepspeed {machine.deepspeed}" if machine.deepspeed else
                                "does not import" + ("" if want_deepspeed else " (no config needs it)")))
    cache = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    existing = next(p for p in (cache, *cache.parents) if p.exists())
    machine.free_disk_gb = shutil.disk_usage(existing).free / GB
    machine.checks.append(Check("disk", CheckStatus.OK, f"{machine.free_disk_gb:.0f} GB free under {existing}"))
    user, orgs, readable, why_not = _hub_access(sorted(set(models)))
    machine.hub_user, machine.hub_write_orgs, machine.readable_models = user, orgs, readable
    machine.checks.append(Check("HF_TOKEN", CheckStatus.OK if user else CheckStatus.MISSING,
                                f"user {user}; may write to: {', '.join(orgs) or 'its own namespace only'}"
                                if user else why_not))
    machine.wandb_key = bool(os.environ.get("WANDB_API_KEY"))
    machine.checks.append(Check("W&B", CheckStatus.OK if machine.wandb_key else CheckStatus.MISSING,
                                "WANDB_API_KEY is set" if machine.wandb_key else
                                "WANDB_API_KEY is not set: runs train offline and sync later"))
    return machine


@dataclass(frozen=True)
class DoctorReport:
    machine: Machine
    verdicts: list[Verdict]
    estimates: dict[str, str]  # config -> its estimate's one-line summary

    @property
    def ok(self) -> bool:
        return self.machine.cuda is not None and all(v.ready for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        machine = asdict(self.machine)
        machine.pop("readable_models")
        return {"ok": self.ok, "machine": machine,
                "configs": [{"config": v.config, "ready": v.ready, "lacks": list(v.lacks),
                             "estimate": self.estimates.get(v.config, "")} for v in self.verdicts]}


def run_doctor(settings: Settings, paths: Sequence[Path]) -> DoctorReport:
    """Probe this machine and judge each config against it (the configs' sizes on their runner classes)."""
    sized = []
    for path in paths:
        loaded = load_config(path)
        sized.append((path.stem, loaded, size_config(path.stem, loaded.data, settings)))
    models = [str(loaded.data.get("base_model") or "") for _, loaded, _ in sized]
    machine = probe_machine(settings, models, any(loaded.data.get("deepspeed") for _, loaded, _ in sized))
    verdicts, estimates = [], {}
    for name, loaded, sizing in sized:
        if sizing.estimate is None:
            verdicts.append(Verdict(name, ("a size haha can tell (no config.json at hand, no size in the name)",)))
            continue
        estimates[name] = sizing.estimate.summary(sizing.assignment.name, sizing.assignment.runner)
        needs = needs_of(name, loaded, sizing.estimate, sizing.assignment.runner.gpus)
        verdicts.append(judge_config(needs, machine, settings.hub_org))
    return DoctorReport(machine, verdicts, estimates)
