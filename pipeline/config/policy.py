"""The config policy: an allow-list over every key Axolotl reads, applied before anything runs.

A merged config runs on a GPU runner that holds `HF_TOKEN` and `WANDB_API_KEY`, so nothing in
it may load code, read outside the repo, reach a service outside the repo's settings or push
by itself. Each key's class is written down in policy_table.py; this module applies it:

- plain values pass; keys that load code pass only when `[tool.haha]` names what they load;
- paths must stay in their place (datasets in train/data, outputs in the run's workspace),
  symlinks resolved and no symlinked folder on the way;
- `trust_remote_code` and `auto_map` are refused at any depth of any mapping;
- a key of Axolotl's schema that the table does not class is refused until someone reviews it.

Pure functions of the loaded config, the settings and the file system's view of train/.
Over 300 lines on purpose: one small checker per key class, kept together so a reviewer reads
the whole allow-list's behaviour in one file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.config.loading import LoadedConfig
from pipeline.config.policy_table import (
    ALLOW_LISTED,
    DATASET_HANDLER_TYPES,
    DATASET_SPECIAL,
    DATASET_VALUES,
    HAHA,
    NESTED,
    NESTED_ANY_VALUE,
    PATHS,
    PLUGIN_KEYS,
    REFUSED,
    VALUES,
    KeyClass,
)
from pipeline.config.rules import dataset_file, in_workspace, is_hub_dataset, is_url
from pipeline.core.naming import is_commit_id, is_hub_id
from pipeline.core.problems import Problem
from pipeline.core.settings import Settings

# Axolotl's aliases, so a key is judged the same whichever spelling the config uses.
ALIASES = {"model_type": "type_of_model", "model_revision": "revision_of_model", "model_config":
           "overrides_of_model_config", "model_kwargs": "overrides_of_model_kwargs"}
CODE_KEYS_ANYWHERE = ("trust_remote_code", "auto_map")
STRATEGY_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z", re.ASCII)
NOT_REVIEWED = "this key is not reviewed for the GPU runner; add it to the policy (pipeline/config/policy_table.py)"

Found = list[tuple[str, str]]  # (dotted key, message)


@dataclass(frozen=True)
class SchemaKeys:
    """The keys Axolotl's schema knows, at the top level and in a dataset entry."""

    top: frozenset[str] = frozenset()
    dataset: frozenset[str] = frozenset()
    plugin: frozenset[str] = frozenset()  # keys the config's allow-listed plugins declare (config/plugins.py)


def is_set(value: Any) -> bool:
    """What counts as using a key: `use_mlflow: false` or an empty `debug:` asks for nothing."""
    return value not in (None, False, "", [], {})


def key_class(key: str) -> KeyClass | None:
    name = ALIASES.get(key, key)
    if name in HAHA:
        return KeyClass.HAHA
    if name in ALLOW_LISTED:
        return KeyClass.ALLOW_LISTED
    if name in REFUSED:
        return KeyClass.REFUSED
    if name in PATHS:
        return PATHS[name]
    if name in NESTED or name in NESTED_ANY_VALUE:
        return KeyClass.NESTED
    if name in VALUES or name in PLUGIN_KEYS:
        return KeyClass.VALUE
    return None


# -- code anywhere ---------------------------------------------------------------------------------------------------

def walk(value: Any, where: str) -> Iterator[tuple[str, str, Any]]:
    """(dotted path of the mapping, key, value) for every mapping entry at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield where, str(key), item
            yield from walk(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{where}[{index}]")


def code_anywhere(data: dict[str, Any]) -> Found:
    """`trust_remote_code`/`auto_map` below the top level: in model kwargs, model config overrides, datasets..."""
    return [(f"{where}.{key}", "refused wherever it appears: it makes transformers or datasets run Python from a "
                               "repo (a model's modelling code, a dataset's loading script)")
            for where, key, value in walk(data, "") if where and key in CODE_KEYS_ANYWHERE and is_set(value)]


# -- allow-listed code -----------------------------------------------------------------------------------------------

def plugin_problems(value: Any, settings: Settings) -> Found:
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [(f"plugins[{index}]" if isinstance(value, list) else "plugins",
             f"plugin '{plugin}' imports arbitrary code and is not in [tool.haha] allowed_plugins")
            for index, plugin in enumerate(names) if plugin not in settings.allowed_plugins]


def remote_code_problems(data: dict[str, Any], settings: Settings) -> Found:
    """Allow-listed models at their pinned revision only, with config and tokenizer from that same repo."""
    base_model = str(data.get("base_model"))
    pinned = settings.trust_remote_code_models.get(base_model)
    if pinned is None:
        return [("trust_remote_code", f"runs code from the Hub; '{base_model}' is not in [tool.haha] "
                                      "trust_remote_code_models")]
    found = []
    if (data.get("revision_of_model") or data.get("model_revision")) != pinned:
        found.append(("trust_remote_code", f"'{base_model}' may run remote code only at its pinned revision: set "
                                           f"revision_of_model: {pinned}"))
    for key in ("base_model_config", "tokenizer_config"):
        if data.get(key) not in (None, base_model):
            found.append((key, f"with trust_remote_code it must be unset or '{base_model}', the allow-listed model"))
    return found


def looks_like_path(template: str) -> bool:
    """Axolotl reads `chat_template_jinja` as a file when it names one; a template always has Jinja markup."""
    return "{{" not in template and "{%" not in template


def jinja_problems(where: str, template: Any, settings: Settings) -> Found:
    if not isinstance(template, str):
        return []
    if looks_like_path(template):
        return [(where, "refused: a path here makes Axolotl read that file (and copy it into W&B); write the "
                        "template itself")]
    digest = hashlib.sha256(template.encode()).hexdigest()
    if digest not in settings.allowed_chat_templates:
        return [(where, f"a custom Jinja template runs inside the tokenizer (a loop in it hangs training); add its "
                        f"sha256 {digest} to [tool.haha] allowed_chat_templates once reviewed")]
    return []


def allow_listed_problems(key: str, value: Any, data: dict[str, Any], settings: Settings) -> Found:
    if key == "plugins":
        return plugin_problems(value, settings)
    if key == "trust_remote_code":
        return remote_code_problems(data, settings)
    return jinja_problems(key, value, settings)


# -- paths -----------------------------------------------------------------------------------------------------------

def symlinked_folder(path: Path, root: Path) -> Path | None:
    """The first folder below `root` on the way to `path` that is a symlink (a symlinked train/data would make any
    file on the machine a "dataset")."""
    current = root
    for part in path.relative_to(root).parts[:-1]:
        current = current / part
        if current.is_symlink():
            return current
    return None


LOCAL_DATA_FILES = ("refused for a file in train/data: name the file itself in path (data_files picks files inside a "
                    "Hub dataset)")


def hub_dataset_problems(where: str, entry: dict[str, Any]) -> Found:
    """A Hub dataset trains only pinned: a commit id names exactly the data the results came from."""
    revision = entry.get("revision")
    if is_commit_id(revision):
        return []
    got = "no revision" if revision is None else f"revision {revision!r}, which can move"
    return [(f"{where}.revision", f"the Hub dataset '{entry['path']}' must be pinned to a full commit id ({got}): "
                                  "add `revision: <40-hex commit>`, the commit shown on the dataset's 'Files and "
                                  "versions' page or by `HfApi().dataset_info(repo).sha`")]


def data_files_problems(where: str, value: Any) -> Found:
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else None
    if names is None or not all(isinstance(name, str) for name in names):
        return [(where, "name the files in the Hub dataset as a string or a list of strings")]
    bad = [name for name in names if is_url(name) or name.startswith("/") or ".." in name.split("/")]
    return [(where, f"'{name}' is not a file name inside the dataset repo") for name in bad]


def dataset_path_problems(where: str, value: Any, settings: Settings) -> Found:
    if not isinstance(value, str):
        return [(where, "a local JSONL path is required")]
    if is_url(value):
        return [(where, f"URLs are refused: put the file in train/data and name it {settings.data_mount}/<file>")]
    mapped = dataset_file(value, settings)
    if mapped is None:
        return [(where, f"'{value}' is outside train/data; name data as {settings.data_mount}/<file> with the file "
                        "in train/data")]
    unresolved = settings.data_dir / mapped.relative_to(settings.data_dir.resolve())
    if (link := symlinked_folder(unresolved, settings.root)) is not None:
        return [(where, f"'{value}' goes through the symlinked folder {link.relative_to(settings.root)}; data must "
                        "be real files in train/data")]
    return []


def model_source_problems(key: str, value: Any, settings: Settings) -> Found:
    """A Hub repo id, or a folder inside the repo or one of [tool.haha] model_dirs."""
    if not isinstance(value, str):
        return []
    if is_url(value):
        return [(key, "URLs are refused: name a Hub repo id or a local path")]
    if is_hub_id(value) and not Path(value).is_dir():
        return []
    folder = (settings.root / value).resolve()
    allowed = [settings.root.resolve(), *(Path(d).resolve() for d in settings.model_dirs)]
    if any(folder.is_relative_to(place) for place in allowed):
        return []
    return [(key, f"'{value}' is a folder outside the repo; name a Hub repo id, or add its parent to [tool.haha] "
                  "model_dirs")]


def path_problems(key: str, value: Any, settings: Settings, schema: SchemaKeys) -> Found:
    kind = PATHS[ALIASES.get(key, key)]
    if kind is KeyClass.WORKSPACE_PATH:
        if isinstance(value, str) and (is_url(value) or not in_workspace(value, settings)):
            return [(key, f"'{value}' points outside the workspace")]
        return []
    if kind is KeyClass.MODEL_SOURCE:
        return model_source_problems(key, value, settings)
    return dataset_list_problems(key, value, settings, schema)


# -- datasets --------------------------------------------------------------------------------------------------------

@cache
def builtin_strategy_files() -> frozenset[str]:
    """Every module of Axolotl's `prompt_strategies` package, as dotted names relative to each of its packages.

    A dataset `type` must name one of these (optionally followed by a function in it): Axolotl imports the
    name by dotted path, and anything else (`os.system`, `train.data.payload`) would run code.
    """
    import importlib.util

    spec = importlib.util.find_spec("axolotl.prompt_strategies")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    names = set()
    for package in [root, *(p for p in root.rglob("*") if p.is_dir() and (p / "__init__.py").is_file())]:
        for module in package.rglob("*.py"):
            relative = module.relative_to(package).with_suffix("")
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            if parts:
                names.add(".".join(parts))
    return frozenset(names)


def strategy_problems(where: str, value: Any) -> Found:
    if isinstance(value, dict) or value is None:
        return []  # a user-defined field mapping: its keys are checked against Axolotl's schema
    name, _, style = str(value).partition(":")  # `alpaca:chat` is type `alpaca` in prompt style `chat`
    if not STRATEGY_NAME.match(name) or (style and not STRATEGY_NAME.match(style)):
        return [(where, f"'{value}' is not a prompt strategy name")]
    import importlib.util

    parts = name.split(".")
    builtin = builtin_strategy_files()
    # Axolotl tries the name as an absolute module first, so its first part must not be one (`os.system`).
    if importlib.util.find_spec(parts[0]) is None and (
            name in DATASET_HANDLER_TYPES or name in builtin or ".".join(parts[:-1]) in builtin):
        return []
    return [(where, f"'{name}' is not one of Axolotl's built-in prompt strategies: Axolotl would import it by "
                    "dotted path and run it; use a built-in type or a user-defined field mapping")]


def transform_problems(where: str, value: Any) -> Found:
    """`input_transform` names a module of Axolotl's `messages` strategies, optionally with its `load_*` function."""
    name = str(value)
    parts = name.split(".")
    module = ".".join(parts[:-1]) if parts[-1].startswith("load_") else name
    if STRATEGY_NAME.match(name) and f"messages.{module}" in builtin_strategy_files():
        return []
    return [(where, f"refused: '{name}' is not one of Axolotl's built-in message transforms")]


def dataset_entry_problems(where: str, entry: Any, settings: Settings, schema: SchemaKeys) -> Found:
    if not isinstance(entry, dict):
        return []
    hub = is_hub_dataset(entry.get("path"), settings)
    found = hub_dataset_problems(where, entry) if hub else dataset_path_problems(f"{where}.path", entry.get("path"),
                                                                                settings)
    for key, value in entry.items():
        dotted = f"{where}.{key}"
        if key in ("path", "trust_remote_code") or not is_set(value):
            continue  # trust_remote_code is refused wherever it appears (code_anywhere)
        if key == "type":
            found += strategy_problems(dotted, value)
        elif key == "chat_template_jinja":
            found += jinja_problems(dotted, value, settings)
        elif key == "input_transform":
            found += transform_problems(dotted, value)
        elif key == "data_files":
            found += data_files_problems(dotted, value) if hub else [(dotted, LOCAL_DATA_FILES)]
        elif key not in DATASET_VALUES and key not in DATASET_SPECIAL and key in schema.dataset:
            found.append((dotted, NOT_REVIEWED))  # a key Axolotl does not know is the schema check's to report
    return found


def dataset_list_problems(key: str, value: Any, settings: Settings, schema: SchemaKeys) -> Found:
    if isinstance(value, str):
        return [(key, f"'{value}' would be fetched from the Hub; list entries with a path in train/data instead")]
    entries = value if isinstance(value, list) else []
    return [problem for index, entry in enumerate(entries)
            for problem in dataset_entry_problems(f"{key}[{index}]", entry, settings, schema)]


# -- nested mappings -------------------------------------------------------------------------------------------------

def nested_problems(key: str, value: Any) -> Found:
    table = NESTED.get(ALIASES.get(key, key))
    if table is None or not isinstance(value, dict):
        return []  # values only; auto_map and trust_remote_code are caught at any depth
    found = []
    for sub, item in value.items():
        if not is_set(item):
            continue
        verdict = table.get(str(sub))
        if verdict is None:
            found.append((f"{key}.{sub}", NOT_REVIEWED))
        elif verdict != "value":
            found.append((f"{key}.{sub}", verdict))
    return found


# -- the whole config ------------------------------------------------------------------------------------------------

def key_problems(key: str, value: Any, data: dict[str, Any], settings: Settings, schema: SchemaKeys) -> Found:
    kind = KeyClass.VALUE if key in schema.plugin else key_class(key)
    if kind is None:
        # Not Axolotl's either: the schema check reports it; Axolotl drops it unread.
        return [(key, NOT_REVIEWED)] if key in schema.top and is_set(value) else []
    if kind is KeyClass.ALLOW_LISTED:
        return allow_listed_problems(ALIASES.get(key, key), value, data, settings) if is_set(value) else []
    if kind is KeyClass.REFUSED:
        return [(key, f"refused: this key {REFUSED[ALIASES.get(key, key)]}")] if is_set(value) else []
    if kind is KeyClass.NESTED:
        return nested_problems(key, value)
    if kind in (KeyClass.VALUE, KeyClass.HAHA):  # a haha key's value is checked by the rule that reads it
        return []
    return path_problems(key, value, settings, schema)


def check_policy(config: LoadedConfig, settings: Settings, display: str,
                 schema: SchemaKeys = SchemaKeys()) -> list[Problem]:
    """Every way the config could make the runner load code, leave the repo or push by itself, as problems.

    `schema` holds the keys of Axolotl's schema (aliases included): one the table does not class is refused.
    Without it (the quick check before `haha train`) only what the table classes is judged.
    """
    data = config.data
    found: Found = []
    for key, value in data.items():
        found += key_problems(str(key), value, data, settings, schema)
    found += code_anywhere(data)
    return [Problem(display, config.line_of(key), key, message) for key, message in dict.fromkeys(found)]


# Files Python would import if they sat on sys.path: none belong in the data, eval or config folders.
IMPORTABLE = ("*.py", "*.pyc", "*.so", "*.pth")


def importable_files(settings: Settings, show: Any) -> list[Problem]:
    """Code under train/: a dataset `type` or `torchdistx_path` pointing there would run it on the GPU runner."""
    train = settings.root / "train"
    found = sorted({path for pattern in IMPORTABLE for path in train.rglob(pattern)}) if train.is_dir() else []
    return [Problem(show(path), None, "file", "importable code has no place under train/ (a config could make "
                                              "Axolotl import it on the GPU runner); move it out") for path in found]
