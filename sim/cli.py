"""Command line: the pre-flight check, the run folder, the Hydra task, signals and help.

``python -m sim [overrides]`` runs one scenario into ``outputs/runs/<date>/<time>/``;
``python -m sim -m [sweeps]`` runs a sweep into ``outputs/sweeps/<date>/<time>/<job>/``.

Before Hydra creates any folder, :func:`preflight` composes (with :mod:`sim.config.compose`: the
safety scan and the resolution), and validates the requested config (for a sweep: every value of
every swept key), also under ``-cn``/``-cp``/``-cd`` and for ``--cfg``/``--info``, so a bad or
unsafe config exits with status 2, one line on stderr naming the key, and nothing written.

Folders: :func:`main` picks the run folder itself and claims it with ``mkdir``; when the
dated folder is taken (two runs in the same second) it takes ``<time>-1``, ``<time>-2``, ...  A
folder given as ``hydra.run.dir`` that already holds a run is refused.  No run deletes a folder.
In a sweep, a job that still fails is recorded in its folder as ``failed.json`` and the sweep
goes on; a re-run job first removes its folder's old ``summary.json`` and ``failed.json``.

Signals: SIGINT and SIGTERM stop a run with one line (``pricewars: interrupted`` /
``pricewars: terminated``) and exit status 130 / 143; no temporary file and no ``summary.json``
is left behind.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sim.config.compose import (
    check_safe,
    compose_config,
    compose_with_hydra,
    composition_error,
    job_config,
    resolve_job,
)
from sim.core.errors import ConfigError, Raw
from sim.core.paths import CONF_DIR
from sim.validation import validate

__all__ = ["main", "preflight", "task", "help_text", "Plan", "compose_config"]

log = logging.getLogger("pricewars")

#: Files and folders that mark a folder as holding a run.
RUN_MARKERS = ("summary.json", "failed.json", "config.yaml", ".hydra")


@dataclasses.dataclass
class Plan:
    """What :func:`preflight` found: the run folder (claimed or checked), and the overrides
    :func:`main` adds to pin Hydra to it."""

    sweep: bool = False
    folder: Path | None = None  # the run (or sweep) folder; None for --cfg / --info
    claimed: bool = False  # main created it (and may remove it again while it is empty)
    extra: list[str] = dataclasses.field(default_factory=list)


def _parse(argv: list[str]):
    """Hydra's own command line; a bad one is a one-line :class:`ConfigError`."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def error(message: str):
        raise ConfigError("arguments", Raw(" ".join(argv)), "see pricewars --help (flags go "
                          "before the overrides)", message)

    parser.error = error  # argparse would print its usage over several lines
    return parser.parse_args(argv)


def _where(args) -> dict[str, Any]:
    return {"config_path": args.config_path, "config_dir": args.config_dir,
            "config_name": args.config_name}


def preflight(argv: list[str]) -> Plan:
    """Compose, scan and validate what ``argv`` asks for, before Hydra writes anything; then
    pick the run folder.

    A plain run is composed and validated as is.  For ``-m``, the config with each swept key at
    its first value is composed once, and every value of every swept key is then checked on a
    copy of it (a config-group sweep such as ``scenario=a,b`` is composed per option).
    ``--cfg`` and ``--info`` are composed and scanned but not range-checked (they only print).

    Raises
    ------
    ConfigError
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    args = _parse(argv)
    commands = [f for f, on in (("--run", args.run), ("--multirun", args.multirun),
                                ("--cfg", args.cfg), ("--info", args.info)) if on]
    if len(commands) > 1:
        raise ConfigError("command", Raw(" ".join(commands)), "one of --run, --multirun, --cfg, "
                          "--info", "more than one command")
    where = _where(args)
    only_print = bool(args.cfg or args.info)
    overrides = list(args.overrides)
    if not args.multirun:
        cfg = compose_with_hydra(overrides, **where)
        check_safe(cfg)
        job = job_config(cfg)
        resolve_job(job, overrides)
        if not only_print:
            validate(job)
        if only_print:
            return Plan()
        return _plan_folder(cfg, overrides, sweep=cfg.hydra.mode == RunMode.MULTIRUN)
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
    cfg = compose_with_hydra(fixed + first, **where)
    check_safe(cfg)
    base = job_config(cfg)
    resolve_job(base, fixed + first)
    if not only_print:
        validate(base)
    for o in sweeps:
        key = o.key_or_group
        is_group = key.split("@")[0] in _groups(args)
        for v in values[id(o)][1:]:
            line = f"{o.get_key_element()}={v}"
            if is_group:
                others = [f for f in first if not f.startswith(f"{o.get_key_element()}=")]
                job = compose_config(fixed + others + [line], **where)
                if not only_print:
                    validate(job)
                continue
            job = copy.deepcopy(base)
            try:
                parsed_v = parser.parse_override(line).value()
                OmegaConf.update(job, key.lstrip("+"), parsed_v, merge=True)
            except Exception as err:
                raise composition_error(err, [line]) from err
            resolve_job(job, [line])
            if not only_print:
                validate(job)
    if only_print:
        return Plan()
    return _plan_folder(cfg, fixed + first, sweep=True)


def _groups(args=None) -> set[str]:

    dirs = [CONF_DIR]
    if args is not None and args.config_dir:
        dirs.append(Path(args.config_dir))
    return {p.name for d in dirs if d.is_dir() for p in d.iterdir() if p.is_dir()}


def holds_run(folder: Path) -> bool:
    """Whether ``folder`` already holds a run (or a failed one)."""
    return any((folder / name).exists() for name in RUN_MARKERS)


def _quote(path: str) -> str:
    """``path`` as a Hydra override value."""
    if re.fullmatch(r"[\w./:+-]+", path):
        return path
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def claim_folder(path: Path) -> Path:
    """Create ``path``, or the first free sibling ``path-1``, ``path-2``, ...; ``mkdir`` makes
    the claim atomic, so two runs started in the same second get two folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for i in range(10_000):
        candidate = path if i == 0 else path.with_name(f"{path.name}-{i}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise ConfigError("hydra.run.dir", Raw(str(path)), "a folder that can be created",
                      "every sibling name is taken")


def _plan_folder(cfg: DictConfig, overrides: list[str], sweep: bool) -> Plan:
    """Pick the folder of a run (or a sweep) from the composed ``hydra`` node."""
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    node = cfg.hydra.sweep if sweep else cfg.hydra.run
    raw = str(node._get_node("dir")._value())
    try:
        folder = Path(str(OmegaConf.select(cfg, key, throw_on_resolution_failure=True)))
    except Exception:  # refers to Hydra's runtime (${hydra:...}): leave the folder to Hydra
        return Plan(sweep=sweep)
    if "${now:" in raw:  # a dated folder: make it unique
        folder = claim_folder(folder)
        return Plan(sweep=sweep, folder=folder, claimed=True,
                    extra=[f"{key}={_quote(str(folder))}"])
    if not sweep and holds_run(folder):
        raise ConfigError(key, Raw(str(folder)), "a new folder, or one without "
                          + ", ".join(RUN_MARKERS), "holds a run already")
    return Plan(sweep=sweep, folder=folder)


def task(cfg: DictConfig) -> None:
    """The Hydra task: validate, simulate, write into Hydra's output folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sim.api import simulate, write

    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    sweeping = hc.mode == RunMode.MULTIRUN
    for stale in ("summary.json", "failed.json"):  # a re-run job starts clean
        (out / stale).unlink(missing_ok=True)
    try:
        typed = validate(cfg)
        result = simulate(typed, progress=not sweeping and sys.stderr.isatty())
        write(result, out)
    except ConfigError as err:
        if not sweeping:
            print(f"pricewars: error: {err}", file=sys.stderr)
            sys.exit(2)
        _record_failure(out, err, hc)
        return
    except Exception as err:
        stop = _signal_under(err)
        if stop is not None:  # a signal that arrived inside compiled code: stop, not fail
            raise stop from None
        if not sweeping:
            raise
        _record_failure(out, err, hc)
        return
    _report(result, out, sweeping)


def _signal_under(err: BaseException) -> BaseException | None:
    """The ``KeyboardInterrupt`` or :class:`Terminated` that caused ``err``, if one did.  A
    signal handled while a compiled kernel boxes its result surfaces as a ``SystemError``
    ("returned a result with an exception set") whose cause is the interrupt."""
    seen: set[int] = set()
    cause = err.__cause__ or err.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt | Terminated):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _record_failure(out: Path, err: BaseException, hc) -> None:
    from sim.core.fs import atomic_write

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


def _report(result, out: Path, sweeping: bool) -> None:
    try:  # show the folder as the user would type it
        out = out.relative_to(Path.cwd())
    except ValueError:
        pass
    s = result.summary
    shares = ", ".join(f"{k} {v:.0%}" for k, v in s["final"]["firm_shares"].items())
    prices = ", ".join(f"{k} {v['final_price_usd_per_m']:.4g}" for k, v in s["firms"].items()
                       if "final_price_usd_per_m" in v)  # hosts post no token price
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


class Terminated(BaseException):
    """Raised by the SIGTERM handler, so a run unwinds (and removes its temporary files) as on
    Ctrl-C."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _remove_temporaries(folder: Path | None) -> None:
    """Remove temporary files a stopped run left in its folder (``.<name>.<random>.tmp``)."""
    if folder is None or not folder.is_dir():
        return
    for tmp in folder.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _remove_if_empty(folder: Path | None) -> None:
    try:
        if folder is not None and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    except OSError:
        pass


def version() -> str:
    """The installed distribution's version (``sim.__version__`` when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("pricewars")
    except PackageNotFoundError:
        import sim

        return sim.__version__


def _rng(meta: dict[str, Any]) -> str:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is None and hi is None:
        return ""
    left = "(" if meta.get("lo_open") or lo is None else "["
    right = ")" if meta.get("hi_open") or hi is None else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{left}{lo_s}, {hi_s}{right}"


def _yaml_line(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"{key}:"):
            return line.partition(":")[2].strip().strip("'\"")
    return ""


def _keys_help() -> list[str]:
    """The scenario's own keys (all but the firms, shocks and targets) with their ranges and
    units, from the schema's ``param()`` metadata."""
    from sim.config import Config
    from sim.core.params import describe

    out = ["scenario keys (KEY=VALUE; firms, shocks and targets below and in the scenarios):"]
    for key, allowed, default, doc in describe(Config):
        if key.split(".")[0] in ("firms", "shocks", "targets"):
            continue
        out.append(f"  {key} ({allowed}, default {default!r}): {doc}")
    return out


def _kinds_help() -> list[str]:
    """The firm kinds, their components and every component's keys with ranges and units (from
    the same ``param()`` metadata the checker reads)."""
    from sim.core.params import describe
    from sim.firms import KINDS as FIRM_KINDS

    out = ["firm kinds (firms.NAME.kind=KIND) and their keys (firms.NAME.KEY=VALUE):"]
    seen: list[type] = []
    for name, kind in FIRM_KINDS.items():
        out.append(f"  {name}: {', '.join(c.__name__ for c in kind.components)}")
        seen += [c for c in kind.components if c not in seen]
    for comp in seen:
        out.append(f"  {comp.__name__}:")
        for key, allowed, default, doc in describe(comp.Config):
            if key in ("pricing", "research", "capacity"):
                out.append(f"    {key}: a rule spec {{rule: NAME, PARAM: VALUE, preset: ...}} "
                           f"(default {default!r}; rules above)")
                continue
            out.append(f"    {key} ({allowed}, default {default!r}): {doc}")
    return out


def help_text() -> str:
    """The text of ``pricewars --help``: usage, scenarios, rules with their parameters, config
    groups and where outputs land (read from ``sim/conf/`` and the rule registry)."""
    import typing

    from sim.strategies import KINDS, REGISTRY, rules

    out = [
        f"pricewars {version()}: a simulator of AI price wars and compute markets",
        "",
        "usage:",
        "  pricewars [key=value ...]              one run of the default scenario",
        "  pricewars scenario=NAME seed=N ...     one run of a scenario, any key overridden",
        "  pricewars +firm@firms.NEW=PRESET       add a firm from a preset",
        "  pricewars -m key=a,b seed=0,1 ...      a sweep: one job per combination",
        "  pricewars +experiment=NAME             a sweep saved in sim/conf/experiment/",
        "  pricewars --cfg job [key=value ...]    print the composed config, run nothing",
        "  pricewars --version | --hydra-help     the version | Hydra's own help",
        "  python -m sim.collect SWEEP_FOLDER     gather a sweep into one table",
        "  python: import sim; sim.run(['scenario=china_2024'], seed=1) -> Result",
        "",
        "Bad input exits with status 2 and one line: pricewars: error: key=value: problem; "
        "allowed: range.",
        "",
        "scenarios (scenario=NAME):",
    ]
    for path in sorted((CONF_DIR / "scenario").glob("*.yaml")):
        out.append(f"  {path.stem:22} {_yaml_line(path, 'description')}")
    out.append("")
    out.append("rules (firms.NAME.KIND.rule=RULE, firms.NAME.KIND.PARAM=VALUE):")
    for kind in KINDS:
        out.append(f"  {kind}:")
        for name in rules(kind):
            cls = REGISTRY[kind][name]
            doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
            out.append(f"    {name}: {doc.replace('``', '')}")
            hints = typing.get_type_hints(cls.Params)
            for f in dataclasses.fields(cls.Params):
                default = (f.default if f.default is not dataclasses.MISSING
                           else f.default_factory())  # type: ignore[misc]
                typ = getattr(hints[f.name], "__name__", str(hints[f.name]))
                rng = _rng(f.metadata)
                out.append(f"      {f.name} ({typ}, default {default!r}"
                           f"{', in ' + rng if rng else ''}): {f.metadata.get('doc', '')}")
    out.append("")
    out += _keys_help()
    out.append("")
    out += _kinds_help()
    out.append("")
    out.append("config groups (GROUP=OPTION, or +GROUP@KEY=OPTION):")
    for folder in sorted(p for p in CONF_DIR.iterdir() if p.is_dir()):
        options = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        out.append(f"  {folder.name:12} {options}")
    out += [
        "",
        "outputs:",
        "  one run:   outputs/runs/<date>/<time>/ (<time>-1, -2, ... when taken), or "
        "hydra.run.dir=DIR",
        "             (refused if DIR already holds a run)",
        "  a sweep:   outputs/sweeps/<date>/<time>/<job>/",
        "  each run folder: firms.parquet, market.parquet, events.parquet, config.yaml,",
        "             figures/*.png and, written last, summary.json (failed.json for a failed "
        "sweep job)",
        "  Ctrl-C / SIGTERM: exit 130 / 143, no summary.json, no temporary files.",
        "  docs/outputs.md lists every column and its unit.",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sim`` and the ``pricewars`` script."""
    import hydra


    argv = list(sys.argv[1:] if argv is None else argv)
    if "--version" in argv:
        print(f"pricewars {version()}")
        sys.exit(0)
    try:
        args = _parse(argv)
    except ConfigError as err:
        print(f"pricewars: error: {err}", file=sys.stderr)
        sys.exit(2)
    if args.help:
        print(help_text(), end="")
        sys.exit(0)
    if args.experimental_rerun is not None:  # unpickles a file: that can run code
        err = ConfigError("--experimental-rerun", Raw(args.experimental_rerun),
                          "a run from its config and overrides (see .hydra/overrides.yaml)",
                          "a pickled config can run code")
        print(f"pricewars: error: {err}", file=sys.stderr)
        sys.exit(2)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    plan = Plan()
    try:
        if not (args.hydra_help or args.shell_completion):
            try:
                plan = preflight(argv)
            except ConfigError as err:
                print(f"pricewars: error: {err}", file=sys.stderr)
                sys.exit(2)
        sys.argv = [sys.argv[0], *argv, *plan.extra]
        app = hydra.main(version_base="1.3", config_path=str(CONF_DIR),
                         config_name="config")(task)
        app()
    except KeyboardInterrupt:
        _stopped(plan, "interrupted", 130)
    except Terminated:
        _stopped(plan, "terminated", 143)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if plan.claimed:
            _remove_if_empty(plan.folder)


def _stopped(plan: Plan, what: str, status: int) -> None:
    # A second Ctrl-C must not cut the clean-up short.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        _remove_temporaries(plan.folder)
        if not plan.sweep and plan.folder is not None:
            (plan.folder / "summary.json").unlink(missing_ok=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"pricewars: {what}", file=sys.stderr)
    sys.exit(status)
