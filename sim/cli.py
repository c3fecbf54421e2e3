"""Command line: composition with one-line errors, the pre-flight check, the Hydra task.

``python -m sim [overrides]`` runs one scenario into ``outputs/runs/<date>/<time>/``;
``python -m sim -m [sweeps]`` runs a sweep into ``outputs/sweeps/<date>/<time>/<job>/``.

Before Hydra creates any folder, :func:`preflight` composes and validates the requested config
(for a sweep: every value of every swept key), so a bad value exits with status 2, one line on
stderr naming the key, and nothing written.  In a sweep, a job that still fails is recorded in
its folder as ``failed.json`` and the sweep goes on.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf import errors as oc_errors

from sim.errors import ConfigError, Raw
from sim.validation import validate

log = logging.getLogger("pricewars")

_TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false",
               "String": "a string"}


def _override_value(key: str, overrides: list[str]) -> Any:
    for ov in reversed(overrides):
        k, _, v = ov.lstrip("+~").partition("=")
        if k == key:
            return Raw(v)
    return None


def composition_error(err: Exception, overrides: list[str]) -> ConfigError:
    """Turn a Hydra/OmegaConf composition failure into a one-line :class:`ConfigError`."""
    from hydra.errors import MissingConfigException, OverrideParseException

    cause = err
    while cause.__cause__ is not None and not isinstance(cause, oc_errors.OmegaConfBaseException):
        cause = cause.__cause__
    if isinstance(err, MissingConfigException) or "Could not find" in str(err):
        m = re.search(r"Could not find '([^']+)'", str(err))
        path = m.group(1) if m else "?"
        group, _, option = path.rpartition("/")
        options = sorted(getattr(err, "options", None) or [])
        if not options:
            opts = re.search(r"Available options in '[^']+':\s*(.*)", str(err), re.S)
            options = opts.group(1).split() if opts else []
        return ConfigError(group or "config", option, ", ".join(options) or "an existing config",
                           "unknown option")
    if isinstance(err, OverrideParseException):
        return ConfigError("override", str(err).splitlines()[0], "key=value", "cannot parse")
    if isinstance(cause, (oc_errors.ConfigKeyError, oc_errors.ConfigAttributeError)):
        key = cause.full_key or "?"
        # Name the whole override (firms.nobody.price=1 fails at "firms.nobody").
        line = next((o for o in reversed(overrides)
                     if o.lstrip("+~").partition("=")[0].startswith(key)), None)
        if line is not None:
            key = line.lstrip("+~").partition("=")[0]
        return ConfigError(key, _override_value(key, overrides),
                           _keys_of(cause, line, overrides), "unknown key")
    if isinstance(cause, oc_errors.ValidationError):
        key = cause.full_key or "?"
        m = re.search(r"converted to (\w+)", cause.msg or "")
        want = _TYPE_WORDS.get(m.group(1), m.group(1)) if m else "a value of the schema's type"
        value = _override_value(key, overrides)
        msg = (cause.msg or "").strip().splitlines()
        return ConfigError(key, value if value is not None else Raw(msg[0] if msg else "?"),
                           want, "wrong type")
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    m = re.search(r"Could not override '([^']+)'", first)
    key = m.group(1) if m else "override"
    return ConfigError(key, _override_value(key, overrides), "an existing key (use +key=value "
                       "to add one)" if m else "a valid override", first)


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


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose ``conf/config.yaml`` with ``overrides``; failures become :class:`ConfigError`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sim import CONF_DIR
    from sim.validation import register_schema

    register_schema()
    try:
        if GlobalHydra.instance().is_initialized():
            return compose(config_name="config", overrides=overrides)
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3",
                                   job_name="pricewars"):
            return compose(config_name="config", overrides=overrides)
    except ConfigError:
        raise
    except Exception as err:  # Hydra and OmegaConf raise many types; all become one line
        raise composition_error(err, overrides) from err


def preflight(argv: list[str]) -> None:
    """Compose and validate what ``argv`` asks for, before Hydra writes anything.

    A plain run is composed and validated as is.  For ``-m``, the config with each swept key at
    its first value is composed once, and every value of every swept key is then checked on a
    copy of it (a config-group sweep such as ``scenario=a,b`` is composed per option).

    Raises
    ------
    ConfigError
    """
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.info or args.cfg or args.shell_completion \
            or args.config_name or args.config_path or args.config_dir:
        return  # Hydra answers these itself (or the user brings their own configs)
    overrides = list(args.overrides)
    if not args.multirun:
        validate(compose_config(overrides))
        return
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except Exception as err:
        raise composition_error(err, overrides) from err
    sweeps = [o for o in parsed if o.is_sweep_override() and not o.key_or_group.startswith("hydra")]
    fixed = [o.input_line for o in parsed if o not in sweeps]
    values = {id(o): [str(v) for v in o.sweep_string_iterator()] for o in sweeps}
    for o in sweeps:
        if not values[id(o)]:
            raise ConfigError(o.key_or_group, o.input_line, "at least one value", "empty sweep")
    first = [f"{o.get_key_element()}={values[id(o)][0]}" for o in sweeps]
    base = compose_config(fixed + first)
    validate(base)
    for o in sweeps:
        key = o.key_or_group
        is_group = key.split("@")[0] in _groups()
        for v in values[id(o)][1:]:
            line = f"{o.get_key_element()}={v}"
            if is_group:
                others = [f for f in first if not f.startswith(f"{o.get_key_element()}=")]
                validate(compose_config(fixed + others + [line]))
                continue
            cfg = copy.deepcopy(base)
            try:
                parsed_v = parser.parse_override(line).value()
                OmegaConf.update(cfg, key.lstrip("+"), parsed_v, merge=True)
            except Exception as err:
                raise composition_error(err, [line]) from err
            validate(cfg)


def _groups() -> set[str]:
    from sim import CONF_DIR

    return {p.name for p in CONF_DIR.iterdir() if p.is_dir()}


def task(cfg: DictConfig) -> None:
    """The Hydra task: validate, simulate, write into Hydra's output folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sim import simulate
    from sim import write as sim_write

    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    sweeping = hc.mode == RunMode.MULTIRUN
    try:
        typed = validate(cfg)
        result = simulate(typed, progress=not sweeping and sys.stderr.isatty())
        sim_write(result, out)
    except ConfigError as err:
        if not sweeping:
            shutil.rmtree(out, ignore_errors=True)
            _prune_empty(out.parent)
            print(f"pricewars: error: {err}", file=sys.stderr)
            sys.exit(2)
        _record_failure(out, err, hc)
        return
    except Exception as err:
        if not sweeping:
            raise
        _record_failure(out, err, hc)
        return
    _report(result, out, sweeping)


def _record_failure(out: Path, err: BaseException, hc) -> None:
    from sim.io import atomic_write

    info = {
        "job": hc.job.num if hc.job.num is not None else None,
        "overrides": list(hc.overrides.task),
        "error": f"{type(err).__name__}: {err}",
        "traceback": traceback.format_exc(),
    }
    text = json.dumps(info, indent=2) + "\n"
    atomic_write(out / "failed.json", lambda p: p.write_text(text))
    log.error("job %s failed (%s); recorded in %s; the sweep goes on", info["job"],
              info["error"], out / "failed.json")


def _prune_empty(folder: Path) -> None:
    try:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    except OSError:
        pass


def _report(result, out: Path, sweeping: bool) -> None:
    try:  # show the folder as the user would type it
        out = out.relative_to(Path.cwd())
    except ValueError:
        pass
    s = result.summary
    shares = ", ".join(f"{k} {v:.0%}" for k, v in s["final"]["firm_shares"].items())
    prices = ", ".join(f"{k} {v['final_price_usd_per_m']:.4g}" for k, v in s["firms"].items())
    lines = [
        f"{s['scenario']} (seed {s['seed']}, {s['horizon_days']} days) -> {out}",
        f"  final prices (USD/M): {prices}",
        f"  final firm shares: {shares or 'none'}; HHI {s['final']['hhi']:.0f}; "
        f"survivors: {', '.join(s['survivors']) or 'none'}",
        f"  tables: {out}/{{firms,market,events}}.parquet and summary.json",
        f"  figures: {out / 'figures'}/{{prices,shares,hhi,cash}}.png",
    ]
    if sweeping:
        log.info(lines[0])
    else:
        print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sim`` and the ``pricewars`` script."""
    import hydra

    from sim import CONF_DIR
    from sim.validation import register_schema

    register_schema()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        preflight(argv)
    except ConfigError as err:
        print(f"pricewars: error: {err}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *argv]
    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(task)
    app()
