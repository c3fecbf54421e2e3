"""Composition of the Hydra config, its safety scan and its one-line errors.

:func:`compose_config` composes ``conf/config.yaml`` (or another config directory or name) with
command-line overrides, then, before anything is resolved or run:

1. **Safety scan** (:func:`check_safe`).  A config names rules and kinds, never code, so it is
   refused, naming the key, when

   - ``hydra.callbacks`` has an entry (Hydra would import and call it);
   - the job config has a ``_target_`` key anywhere;
   - the hydra node has a ``_target_`` anywhere but ``hydra.launcher._target_`` and
     ``hydra.sweeper._target_``, or one of those names a class outside :data:`SAFE_TARGETS`
     (Hydra's own launchers and sweeper);
   - the logging config (``hydra.job_logging``, ``hydra.hydra_logging``) builds objects from
     names (a ``()`` factory or a ``class`` outside the standard library's ``logging``), or
     ``hydra.job.env_copy`` / ``hydra.job.env_set`` read or set the environment;
   - an interpolation calls a resolver outside the allow-list: in the job config only plain
     ``${key}`` references are allowed, in the hydra node also ``${now:...}`` and
     ``${hydra:...}`` (so no ``${oc.env:...}``, ``${oc.decode:...}``, ``${oc.create:...}``).
     The command line's overrides and the ``defaults`` lists of the config files (which Hydra
     resolves while composing) are checked before composition (:func:`check_defaults`).

   The scan sees the composed config, so it holds whether a value comes from the command line
   or from a file (an experiment file with ``# @package _global_`` and a ``hydra:`` block).

2. **Resolution**: the whole job config is resolved once; a missing mandatory value
   (``seed=???``, a shock without ``at``) or a broken interpolation (``${no.such}``) becomes a
   :class:`~sim.core.errors.ConfigError` naming the full key.

Every failure is a :class:`~sim.core.errors.ConfigError` (a ``ValueError``), never a Hydra or
OmegaConf error.

The module sits in the config layer and knows nothing of the layers above: the schema of the
firm sections and the names of the firm kinds come from :mod:`sim.validation`, which hands them
over with :func:`configure` when it is imported (the command line and :mod:`sim.api` import it).
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf import errors as oc_errors

from sim.config.schema import SHOCK_KINDS
from sim.core.errors import ConfigError, Raw
from sim.core.paths import CONF_DIR


def _default_register() -> None:
    from sim.config.schema import register_configs

    register_configs()


#: Set by :func:`configure`: how to register the schema, and the firm kinds' names.
_HOOKS = {"register": _default_register, "firm_kinds": lambda: []}


def configure(register=None, firm_kinds=None) -> None:
    """Hand the composer what lives in higher layers: ``register()`` puts the full schema in
    Hydra's ConfigStore, ``firm_kinds()`` lists the kinds (for messages)."""
    if register is not None:
        _HOOKS["register"] = register
    if firm_kinds is not None:
        _HOOKS["firm_kinds"] = firm_kinds

__all__ = ["compose_config", "compose_with_hydra", "check_safe", "resolve_job",
           "composition_error", "SAFE_TARGETS", "JOB_RESOLVERS", "HYDRA_RESOLVERS"]

#: The only classes a config may name: Hydra's own launchers and sweeper.
SAFE_TARGETS = frozenset({
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
    "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher",
})
#: Resolvers allowed in the job config (none: plain ``${key}`` references only).
JOB_RESOLVERS: frozenset[str] = frozenset()
#: Resolvers allowed in the hydra node (run folders by date, Hydra's own runtime values).
HYDRA_RESOLVERS = frozenset({"now", "hydra"})
_TARGET_KEYS = ("hydra.launcher._target_", "hydra.sweeper._target_")
_LOG_FACTORIES = frozenset({"colorlog.ColoredFormatter"})
_LOG_STREAMS = frozenset({"ext://sys.stdout", "ext://sys.stderr"})
_NO_CODE = "rules and kinds chosen by name; a config cannot name code"

_TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false",
               "String": "a string"}


# ----------------------------------------------------------------------------- errors
def _override_value(key: str, overrides: list[str]) -> Any:
    for ov in reversed(overrides):
        k, _, v = ov.lstrip("+~").partition("=")
        if k == key:
            return Raw(v)
    return None


def _override_line(key: str, overrides: list[str]) -> str | None:
    """The override that sets ``key`` or a key under it (``firms.nobody.price`` for
    ``firms.nobody``)."""
    return next((o for o in reversed(overrides)
                 if o.lstrip("+~").partition("=")[0].startswith(key)), None)


def _group_error(err: Exception, overrides: list[str]) -> ConfigError:
    m = re.search(r"Could not find '([^']+)'", str(err))
    path = m.group(1) if m else "?"
    group, _, option = path.rpartition("/")
    options = sorted(getattr(err, "options", None) or [])
    if not options:
        opts = re.search(r"Available options in '[^']+':\s*(.*)", str(err), re.S)
        options = opts.group(1).split() if opts else []
    key = group or "config"
    # Name the override as typed: +firm@firms.newcomer=lean_lb, scenario=chna_2024.
    for ov in reversed(overrides):
        k, _, v = ov.lstrip("+~").partition("=")
        if k.split("@")[0] == group and v == option:
            key = k
            break
    return ConfigError(key, Raw(option), ", ".join(options) or "an existing config",
                       "unknown option")


def composition_error(err: Exception, overrides: list[str]) -> ConfigError:
    """Turn a Hydra/OmegaConf composition failure into a one-line :class:`ConfigError`."""
    from hydra.errors import MissingConfigException, OverrideParseException

    cause = err
    while cause.__cause__ is not None and not isinstance(cause, oc_errors.OmegaConfBaseException):
        cause = cause.__cause__
    if isinstance(err, MissingConfigException) or "Could not find" in str(err):
        return _group_error(err, overrides)
    if isinstance(err, OverrideParseException):
        return ConfigError("override", str(err).splitlines()[0], "key=value", "cannot parse")
    if isinstance(cause, (oc_errors.ConfigKeyError, oc_errors.ConfigAttributeError)):
        key = cause.full_key or "?"
        line = _override_line(key, overrides)
        if line is not None:
            key = line.lstrip("+~").partition("=")[0]
        return ConfigError(key, _override_value(key, overrides),
                           _keys_of(cause, line, overrides), "unknown key")
    if isinstance(cause, oc_errors.ValidationError):
        key = cause.full_key or "?"
        value = _override_value(key, overrides)
        msg = (cause.msg or "").strip().splitlines()
        section = _section_error(key, value, cause)
        if section is not None:
            return section
        m = re.search(r"converted to (\w+)", cause.msg or "")
        want = _TYPE_WORDS.get(m.group(1), m.group(1)) if m else "a value of the schema's type"
        return ConfigError(key, value if value is not None else Raw(msg[0] if msg else "?"),
                           want, "wrong type")
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    m = re.search(r"Could not override '([^']+)'", first)
    key = m.group(1) if m else "override"
    return ConfigError(key, _override_value(key, overrides), "an existing key (use +key=value "
                       "to add one)" if m else "a valid override", first)


def _section_error(key: str, value: Any, cause: oc_errors.ValidationError) -> ConfigError | None:
    """``firms.lab=lean_lb``: a string given where a whole section (a dataclass) belongs."""
    m = re.search(r"Invalid type assigned: \w+ is not a subclass of (\w+)", cause.msg or "")
    if not m:
        return None
    section = m.group(1)
    if section in ("FirmConfig", "FirmSchema"):

        presets = ", ".join(sorted(p.stem for p in (CONF_DIR / "firm").glob("*.yaml")))
        return ConfigError(key, value, f"a mapping, or a preset with +firm@{key}=NAME "
                           f"({presets})", "not a firm section")
    return ConfigError(key, value, f"a mapping of {section}'s keys", "not a section")


def _keys_of(err: oc_errors.OmegaConfBaseException, line: str | None,
             overrides: list[str]) -> str:
    """The keys that exist where an unknown key was asked for."""
    node = getattr(err, "object_type", None)
    if node is not None and hasattr(node, "__dataclass_fields__"):
        return f"keys of {node.__name__}: " + ", ".join(node.__dataclass_fields__)
    parent = (err.full_key or "").rpartition(".")[0]
    try:  # compose without the offending override and list what is there
        cfg = compose_config([o for o in overrides if o != line])
        found = OmegaConf.select(cfg, parent) if parent else cfg
        if found is not None and hasattr(found, "keys"):
            return f"existing keys of {parent or 'the config'}: " + ", ".join(map(str, found))
    except ConfigError:
        pass
    return "an existing key"


# ----------------------------------------------------------------------------- safety scan
def _walk(node: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """``(path, key, value)`` for every entry below ``node`` (a plain container)."""
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            yield p, k, v
            yield from _walk(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            p = f"{path}[{i}]"
            yield p, i, v
            yield from _walk(v, p)


def resolvers_in(text: str) -> list[str]:
    """Names of the resolvers an interpolation string calls (``["oc.env"]`` for
    ``"${oc.env:HOME}"``); plain ``${key}`` references call none.  In a string that does not
    parse, every ``${name:`` counts as a call."""
    if "${" not in text:
        return []
    from omegaconf import grammar_parser
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser as P

    try:
        tree = grammar_parser.parse(text)
    except Exception:
        # Unparsable: resolving it fails without calling anything, unless it names a resolver.
        return re.findall(r"\$\{\s*([^:{}]*?)\s*:", text)
    names: list[str] = []

    def visit(n: Any) -> None:
        if isinstance(n, P.InterpolationResolverContext):
            names.append(n.resolverName().getText())
        for c in getattr(n, "children", None) or []:
            visit(c)

    visit(tree)
    return names


def _check_interpolation(key: str, value: str, allowed: frozenset[str]) -> None:
    for name in resolvers_in(value):
        if name not in allowed:
            what = ", ".join(f"${{{r}:...}}" for r in sorted(allowed))
            raise ConfigError(key, Raw(value), "plain ${key} references" + (
                f" and {what}" if what else ""),
                f"resolver '{name}' may read the environment or run code")


def check_overrides(overrides: list[str]) -> None:
    """Refuse resolver calls on the command line before anything is composed, and an empty
    mapping assigned to a key (``firms={}`` merges into the scenario's firms and changes
    nothing, so it cannot mean what it says)."""
    for ov in overrides:
        key, _, value = ov.lstrip("+~").partition("=")
        allowed = HYDRA_RESOLVERS if key.startswith("hydra") else JOB_RESOLVERS
        _check_interpolation(key, value, allowed)
        if value.strip() == "{}" and not ov.startswith(("+", "~")) and "@" not in key:
            raise ConfigError(key, Raw(value), f"~{key}.NAME to remove an entry, or "
                              f"{key}.NAME.KEY=VALUE to change one",
                              "an empty mapping merges into the config and changes nothing")


@functools.lru_cache(maxsize=512)
def _defaults_of(path: str, mtime_ns: int) -> tuple[str, ...]:
    """The entries of a config file's ``defaults`` list, as text (cached by modification time)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ()  # Hydra reports a broken file itself
    entries = data.get("defaults") if isinstance(data, dict) else None
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            out += [f"{k}: {v}" for k, v in entry.items()]
        else:
            out.append(str(entry))
    return tuple(out)


def check_defaults(folders: list[Path]) -> None:
    """Refuse resolver calls in the ``defaults`` lists of the config files under ``folders``:
    Hydra resolves those while it composes, before :func:`check_safe` can see them."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.yaml")):
            for i, text in enumerate(_defaults_of(str(path), path.stat().st_mtime_ns)):
                names = [n for n in resolvers_in(text) if n not in JOB_RESOLVERS]
                if names:
                    where = path.relative_to(folder).as_posix()
                    raise ConfigError(f"{where}:defaults[{i}]", Raw(text), "plain ${group} "
                                      "references", f"resolver '{names[0]}' may read the "
                                      "environment or run code")


def _file_folders(cfg: DictConfig | None, config_path: str | None,
                  config_dir: str | None) -> list[Path]:
    """The local folders a composition reads config files from."""

    folders = []
    if config_path is None:
        folders.append(CONF_DIR)
    else:
        p = Path(config_path)
        folders.append(p if p.is_absolute() else Path(__file__).resolve().parent / p)
    if config_dir is not None:
        folders.append(Path(os.path.abspath(config_dir)))
    if cfg is not None:
        for entry in OmegaConf.select(cfg, "hydra.searchpath", default=None) or []:
            if str(entry).startswith("file://"):
                folders.append(Path(str(entry)[len("file://"):]))
    return folders


def check_safe(cfg: DictConfig) -> None:
    """Refuse a composed config (with its ``hydra`` node) that could run code or read the
    environment (see the module doc).  Nothing is resolved.

    Raises
    ------
    ConfigError
    """
    tree = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    hydra = tree.pop("hydra", None) or {}
    callbacks = hydra.get("callbacks") or {}
    for name, cb in callbacks.items() if isinstance(callbacks, dict) else []:
        target = cb.get("_target_") if isinstance(cb, dict) else cb
        raise ConfigError(f"hydra.callbacks.{name}", Raw(str(target)), "no hydra.callbacks "
                          f"({_NO_CODE})", "a callback runs code")
    job = hydra.get("job") or {}
    for env in ("env_copy", "env_set"):
        if job.get(env):
            raise ConfigError(f"hydra.job.{env}", Raw(str(job[env])), "empty",
                              "a config may not read or set the environment")
    for path, key, value in _walk(hydra, "hydra"):
        if key == "_target_":
            if path not in _TARGET_KEYS or value not in SAFE_TARGETS:
                raise ConfigError(path, Raw(str(value)), "Hydra's own launchers and sweeper: "
                                  + ", ".join(sorted(SAFE_TARGETS)), "a config cannot name code")
        elif path.startswith(("hydra.job_logging.", "hydra.hydra_logging.")) and (
                key == "()" and value not in _LOG_FACTORIES
                or key == "class" and not str(value).startswith("logging.")
                or isinstance(value, str) and value.startswith("ext://")
                and value not in _LOG_STREAMS):
            raise ConfigError(path, Raw(str(value)), "logging's own classes and "
                              "ext://sys.stdout or ext://sys.stderr", "a config cannot name code")
        if isinstance(value, str):
            _check_interpolation(path, value, HYDRA_RESOLVERS)
    for path, key, value in _walk(tree, ""):
        if key == "_target_":
            raise ConfigError(path, Raw(str(value)), f"no _target_ keys ({_NO_CODE})",
                              "a config cannot name code")
        if isinstance(value, str):
            _check_interpolation(path, value, JOB_RESOLVERS)


# ----------------------------------------------------------------------------- resolution
def _allowed_for(job: DictConfig, key: str) -> str:
    if re.fullmatch(r"firms\.[^.]+\.kind", key):
        return ", ".join(_HOOKS["firm_kinds"]())
    if re.fullmatch(r"shocks\[\d+\]\.kind", key):
        return ", ".join(SHOCK_KINDS)
    if re.fullmatch(r"shocks\[\d+\]\.at", key):
        return "a day number or an ISO date within the horizon"
    try:
        node = job._get_node(key.replace("[", ".").replace("]", ""), throw_on_missing_key=False)
    except Exception:
        node = None
    name = type(node).__name__.removesuffix("Node") if node is not None else ""
    return _TYPE_WORDS.get(name, "a value")


def resolve_job(job: DictConfig, overrides: list[str] | None = None) -> None:
    """Resolve the whole job config once; a missing value or a broken interpolation becomes a
    :class:`ConfigError` naming the full key."""
    overrides = overrides or []
    try:
        OmegaConf.to_container(job, resolve=True, throw_on_missing=True)
    except oc_errors.MissingMandatoryValue as err:
        key = err.full_key or "?"
        raise ConfigError(key, Raw("???"), _allowed_for(job, key), "missing value") from None
    except oc_errors.OmegaConfBaseException as err:
        key = err.full_key or "?"
        value = _override_value(key, overrides)
        if value is None:
            try:
                value = Raw(str(job._get_node(key)._value()))
            except Exception:
                value = Raw("?")
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if isinstance(err, oc_errors.InterpolationKeyError):
            problem = first[0].lower() + first[1:]
            allowed = "a reference to an existing key"
        else:
            problem, allowed = first, "a value that resolves"
        raise ConfigError(key, value, allowed, problem) from None


# ----------------------------------------------------------------------------- compose
def compose_with_hydra(overrides: list[str], *, config_path: str | None = None,
                       config_dir: str | None = None,
                       config_name: str | None = None) -> DictConfig:
    """Compose the config as Hydra's app would (``-cp``/``-cd``/``-cn`` as on its command
    line), with its ``hydra`` node and nothing resolved.  Failures become :class:`ConfigError`.
    """
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_automatic_config_search_path, detect_task_name
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from hydra.types import RunMode

    _HOOKS["register"]()

    check_overrides(overrides)
    check_defaults(_file_folders(None, config_path, config_dir))
    path = str(CONF_DIR) if config_path is None else config_path
    search_path = create_automatic_config_search_path(None, "sim.cli", path)
    if config_dir is not None:
        folder = os.path.abspath(config_dir)
        if not os.path.isdir(folder):
            raise ConfigError("--config-dir", Raw(config_dir), "an existing folder",
                              "no such folder")
        search_path.prepend(provider="command-line", path=f"file://{folder}",
                            anchor=SearchPathQuery(provider="schema"))
    backup = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        hydra = Hydra.create_main_hydra2(task_name=detect_task_name(None, "sim.cli"),
                                         config_search_path=search_path)
        cfg = hydra.compose_config(config_name or "config", overrides, run_mode=RunMode.RUN,
                                   with_log_configuration=False)
        if OmegaConf.select(cfg, "hydra.searchpath", default=None):
            check_defaults(_file_folders(cfg, config_path, config_dir))
        return cfg
    except ConfigError:
        raise
    except Exception as err:  # Hydra and OmegaConf raise many types; all become one line
        text = str(err)
        if "Primary config module" in text or "Primary config directory" in text:
            raise ConfigError("--config-path", Raw(path), "a config folder: absolute, or "
                              "relative to the sim package (as Hydra reads it)",
                              "not found") from err
        if "Cannot find primary config" in text:
            raise ConfigError("--config-name", Raw(config_name), "a config file of the config "
                              "path or --config-dir (without .yaml)", "not found") from err
        raise composition_error(err, overrides) from err
    finally:
        GlobalHydra.instance().clear()
        restore_gh_from_backup(backup)


def job_config(cfg: DictConfig, copy_it: bool = True) -> DictConfig:
    """A composed config without its ``hydra`` node (a copy unless ``copy_it`` is false)."""
    job = copy.deepcopy(cfg) if copy_it else cfg
    with read_write(job), open_dict(job):
        job.pop("hydra", None)
    return job


def compose_config(overrides: list[str], *, config_path: str | None = None,
                   config_dir: str | None = None, config_name: str | None = None,
                   ) -> DictConfig:
    """Compose ``conf/config.yaml`` with ``overrides``, scan it (:func:`check_safe`) and
    resolve it (:func:`resolve_job`); return the job config (without ``hydra``).

    Raises
    ------
    ConfigError
        For unsafe content, an unknown option or key, a wrong type, a missing value or a broken
        interpolation.
    """
    cfg = compose_with_hydra(overrides, config_path=config_path, config_dir=config_dir,
                             config_name=config_name)
    check_safe(cfg)
    job = job_config(cfg, copy_it=False)
    resolve_job(job, overrides)
    return job
