"""The edge of the simulator: every bad input gets one line and exit 2 with nothing written, a
config cannot run code, folders are safe, signals stop a run cleanly, collect refuses bad files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli

import sim
from sim import CONF_DIR, cli
from sim.collect import CollectError, collect
from sim.collect import main as collect_main
from sim.core.errors import ConfigError


def _main(argv, capsys, monkeypatch) -> tuple[int, str, str]:
    """Run ``sim.cli.main(argv)`` in-process; return (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["pricewars"])
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), out, err


def _one_error_line(err: str, key: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"pricewars: error: {key}="), lines[0]
    assert "allowed:" in lines[0]
    return lines[0]


# (overrides, key named in the line, a word the line must also hold)
BAD = [
    (["seed=???"], "seed", "missing value"),
    (["firms.lab.kind=???"], "firms.lab.kind", "lean_lab"),
    (["horizon_days=${oc.env:NOPE}"], "horizon_days", "oc.env"),
    (["horizon_days=${oc.decode:'1'}"], "horizon_days", "oc.decode"),
    (["horizon_days=${no.such}"], "horizon_days", "no.such"),
    (["shocks=[{kind: demand_jump, factor: 2}]"], "shocks[0].at", "missing value"),
    (["+hydra.callbacks.evil._target_=builtins.print"], "hydra.callbacks.evil", "callback"),
    (["hydra.launcher._target_=builtins.print"], "hydra.launcher._target_", "code"),
    (["+targets._target_=os.system"], "targets._target_", "code"),
    (["hydra.run.dir=${oc.env:HOME}"], "hydra.run.dir", "oc.env"),
    (["hydra.job.env_copy=[HOME]"], "hydra.job.env_copy", "environment"),
    (["+hydra.job_logging.handlers.x.class=os.system"], "hydra.job_logging.handlers.x.class",
     "code"),
    (["+firm@firms.newcomer=lean_lb"], "firm@firms.newcomer", "lean_lab, miner_host, tech_giant"),
    (["scenario=chna_2024"], "scenario", "china_2024"),
    (["firms.lab=lean_lb"], "firms.lab", "+firm@firms.lab=NAME (lean_lab, miner_host, tech_giant)"),
    # Keys outside the schema, with + and ++ too; values of the wrong type are not coerced.
    (["+horizon_day=30"], "horizon_day", "unknown key"),
    (["++horizon_day=30"], "horizon_day", "unknown key"),
    (["horizon_day=30"], "horizon_day", "unknown key"),
    (["output.figures=2"], "output.figures", "true or false"),
    (["firms.lab.pricing.capacity_aware=7"], "firms.lab.pricing.capacity_aware",
     "true or false"),
    (["firms={}"], "firms", "changes nothing"),
    (["start_date=20250101"], "start_date", "YYYY-MM-DD"),
    (["firms.lab.pricing.rule=undercut", "firms.lab.pricing.markup=0.3"],
     "firms.lab.pricing.markup", "parameters of pricing rule 'undercut'"),
    (["firms.giant.funding.enabled=true"], "firms.giant.funding.enabled", "keys of firms.giant"),
    # Values that used to be in range and crash or stall the model are out of range now.
    (["firms.lab.review_days=1e-6"], "firms.lab.review_days", "[0.25,"),
    (["firms.lab.reaction_lag_days=1e-6"], "firms.lab.reaction_lag_days", "[0.25,"),
    (["shocks=[{at: 3, kind: demand_jump, factor: 0}]"], "shocks[0].factor", "(0,"),
    (["shocks=[{at: 3.5, kind: demand_jump, factor: 2}]"], "shocks[0].at", "integer"),
]
CLI_ONLY = [
    (["-cn", "config", "firms.lab.cash_usd=inf"], "firms.lab.cash_usd", "finite"),
    (["-cd", str(CONF_DIR), "seed=???"], "seed", "missing value"),
    (["-cp", str(CONF_DIR), "-cn", "config", "horizon_days=0"], "horizon_days", "range"),
    (["--cfg", "job", "horizon_days=${oc.env:HOME}"], "horizon_days", "oc.env"),
    (["--info", "config", "+hydra.callbacks.x._target_=builtins.print"], "hydra.callbacks.x",
     "callback"),
    (["-cp", "nowhere"], "--config-path", "not found"),
    (["-cn", "nope"], "--config-name", "not found"),
    (["-cd", "/no/such/folder"], "--config-dir", "no such folder"),
    (["--experimental-rerun", "x.pickle"], "--experimental-rerun", "code"),
    (["-m", "--cfg", "job", "seed=0,1"], "command", "more than one command"),
    (["seed=1", "--cfg", "job"], "arguments", "unrecognized arguments"),
    (["--cfg", "nothing"], "arguments", "invalid choice"),
    (["-m", "seed=0,1", "horizon_days=${oc.env:NOPE}"], "horizon_days", "oc.env"),
    (["-m", "seed=0,1", "horizon_days=10,${no.such}"], "horizon_days", "no.such"),
]


@pytest.mark.parametrize("argv,key,word", BAD + CLI_ONLY, ids=[" ".join(a) for a, _, _ in
                                                               BAD + CLI_ONLY])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch, argv, key,
                                                   word):
    monkeypatch.chdir(tmp_path)
    code, out, err = _main([*argv, f"hydra.run.dir={tmp_path / 'run'}"], capsys, monkeypatch)
    assert code == 2
    assert word in _one_error_line(err, key)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overrides,key,word", BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_bad_input_through_the_api_is_a_config_error(overrides, key, word):
    with pytest.raises(ConfigError) as exc:
        sim.run(overrides)
    assert str(exc.value).startswith(f"{key}=") and word in str(exc.value)
    assert "\n" not in str(exc.value)


def test_compose_stays_a_function_after_importing_the_module():
    import importlib

    from sim.config.compose import compose_config

    module = importlib.import_module("sim.config.compose")
    assert module.compose_config is compose_config
    assert callable(sim.compose) and sim.compose is not module
    assert sim.compose(["seed=4"]).seed == 4
    with pytest.raises(ConfigError):
        sim.compose(["seed=???"])


# ----------------------------------------------------------------------------- files
@pytest.fixture
def conf_copy(tmp_path):
    """A copy of conf/ with experiments that would run code, read the environment, or name a
    ``_target_``; the callback writes a sentinel file when called."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    sentinel = tmp_path / "SENTINEL"
    (conf / "experiment" / "evil.yaml").write_text(
        "# @package _global_\n"
        "hydra:\n"
        "  callbacks:\n"
        "    evil:\n"
        "      _target_: builtins.open\n"
        f"      _args_: ['{sentinel}', 'w']\n"
    )
    (conf / "experiment" / "envy.yaml").write_text(
        "# @package _global_\nhorizon_days: ${oc.env:HOME}\n")
    (conf / "experiment" / "target.yaml").write_text(
        "# @package _global_\n"
        "targets:\n"
        "  x:\n"
        "    _target_: builtins.open\n"
        f"    _args_: ['{sentinel}', 'w']\n"
    )
    return conf, sentinel


@pytest.mark.parametrize("flag", ["-cd", "-cp"])
@pytest.mark.parametrize("name,key", [("evil", "hydra.callbacks.evil"),
                                      ("envy", "horizon_days"),
                                      ("target", "targets.x._target_")])
def test_a_config_file_cannot_run_code(conf_copy, tmp_path, capsys, monkeypatch, flag, name,
                                       key):
    conf, sentinel = conf_copy
    run = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    code, _, err = _main([flag, str(conf), f"+experiment={name}", f"hydra.run.dir={run}"],
                         capsys, monkeypatch)
    assert code == 2
    _one_error_line(err, key)
    assert not sentinel.exists() and not run.exists()
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("flag", ["-cd", "-cp"])
def test_a_defaults_list_cannot_read_the_environment(tmp_path, capsys, monkeypatch, flag):
    """Hydra resolves a defaults list while composing, so it is checked before."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "experiment" / "envd.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /scenario: ${oc.env:SCEN}\n")
    monkeypatch.setenv("SCEN", "china_2024")
    monkeypatch.chdir(tmp_path)
    code, _, err = _main([flag, str(conf), "+experiment=envd", f"hydra.run.dir={tmp_path / 'r'}"],
                         capsys, monkeypatch)
    assert code == 2
    assert "oc.env" in _one_error_line(err, "experiment/envd.yaml:defaults[0]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]


def test_the_api_refuses_an_unsafe_experiment_file(conf_copy):
    from sim.config.compose import compose_config

    conf, sentinel = conf_copy
    with pytest.raises(ConfigError, match=r"^hydra\.callbacks\.evil="):
        compose_config(["+experiment=evil"], config_dir=str(conf))
    with pytest.raises(ConfigError, match=r"^horizon_days=\$\{oc\.env:HOME\}"):
        compose_config(["+experiment=envy"], config_dir=str(conf))
    assert not sentinel.exists()


def test_the_shipped_experiments_pass_the_scan():
    for path in (CONF_DIR / "experiment").glob("*.yaml"):
        sim.validate(sim.compose([f"+experiment={path.stem}"]))


# ----------------------------------------------------------------------------- folders
def test_a_refused_run_leaves_an_existing_folder_alone(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(["-cn", "config", "firms.lab.cash_usd=inf", f"hydra.run.dir={folder}"],
                         capsys, monkeypatch)
    assert code == 2
    _one_error_line(err, "firms.lab.cash_usd")
    assert (folder / "notes.txt").read_text() == "keep me"
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("marker", cli.RUN_MARKERS)
def test_a_run_into_a_folder_that_holds_a_run_is_refused(tmp_path, capsys, monkeypatch, marker):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / marker).mkdir() if marker == ".hydra" else (folder / marker).write_text("{}")
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(["horizon_days=5", f"hydra.run.dir={folder}"], capsys, monkeypatch)
    assert code == 2
    assert "holds a run already" in _one_error_line(err, "hydra.run.dir")
    assert [p.name for p in folder.iterdir()] == [marker]


def test_claim_folder_takes_the_next_free_sibling(tmp_path):
    first = cli.claim_folder(tmp_path / "a" / "12-00-00")
    second = cli.claim_folder(tmp_path / "a" / "12-00-00")
    third = cli.claim_folder(tmp_path / "a" / "12-00-00")
    assert [first.name, second.name, third.name] == ["12-00-00", "12-00-00-1", "12-00-00-2"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HYDRA_FULL_ERROR": "0"}


def test_two_runs_started_together_get_two_folders(tmp_path):
    args = [sys.executable, "-m", "sim", "horizon_days=5", "output.figures=false"]
    procs = [subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    runs = sorted(p for p in (tmp_path / "outputs" / "runs").glob("*/*") if p.is_dir())
    assert len(runs) == 2, runs
    assert all((r / "summary.json").exists() for r in runs)


def test_a_failed_rerun_leaves_no_stale_summary(tmp_path):
    """Job 3 of the same sweep folder succeeds first (horizon 25), then fails (horizon 10
    with a shock at day 20): its folder must hold failed.json and no summary.json."""
    jump = "{{at:{},kind:demand_jump,factor:2}}"
    shocks = f"shocks=choice([{jump.format(5)}],[{jump.format(20)}])"
    sweep = tmp_path / "sweep"
    common = ["-m", shocks, "output.figures=false", f"hydra.sweep.dir={sweep}"]
    first = run_cli([*common, "horizon_days=30,25"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert (sweep / "3" / "summary.json").exists()
    second = run_cli([*common, "horizon_days=30,10"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert (sweep / "3" / "failed.json").exists()
    assert not (sweep / "3" / "summary.json").exists()
    assert list(collect(sweep, write=False)["status"]) == ["ok", "ok", "ok", "failed"]


# ----------------------------------------------------------------------------- signals
@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated")])
def test_a_signal_stops_a_run_cleanly(tmp_path, sig, code, word):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "horizon_days=3000", "output.figures=true",
         f"hydra.run.dir={run}"], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        # a shell that starts jobs in the background ignores SIGINT; the test must not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (run / ".hydra" / "config.yaml").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [f"pricewars: {word}"]
    assert not list(run.rglob("*.tmp"))
    assert not (run / "summary.json").exists()


# ----------------------------------------------------------------------------- help, version
def test_help_is_the_projects_own(capsys, monkeypatch):
    code, out, _ = _main(["--help"], capsys, monkeypatch)
    assert code == 0 and out == cli.help_text()
    for word in ("usage:", "-m", "sim.run", "lean_lab_vs_giant", "china_2024",
                 "DeepSeek-V2 enters", "pricing:", "research:", "capacity:", "undercut",
                 "step (float, default 0.05, in [0, 1])", "alpha (float, default 0.15, in (0, 1])",
                 "config groups", "scenario", "experiment", "reaction_lag", "outputs/runs/",
                 "outputs/sweeps/", "summary.json"):
        assert word in out, word
    assert "Powered by Hydra" not in out
    assert _main(["-h"], capsys, monkeypatch)[1] == out


def test_hydra_help_still_reaches_hydra(capsys, monkeypatch):
    code, out, _ = _main(["--hydra-help"], capsys, monkeypatch)
    assert code == 0 and "Hydra" in out and "--multirun" in out


def test_version(capsys, monkeypatch):
    code, out, _ = _main(["--version"], capsys, monkeypatch)
    assert code == 0 and out.strip() == f"pricewars {cli.version()}"
    assert cli.version() == sim.__version__


# ----------------------------------------------------------------------------- collect
def _sweep(tmp_path, jobs: dict[str, dict[str, str]]):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    for name, files in jobs.items():
        (sweep / name / ".hydra").mkdir(parents=True)
        (sweep / name / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
        for fname, text in files.items():
            (sweep / name / fname).write_text(text)
    return sweep


GOOD = json.dumps({"final": {"hhi": 5000}})
FAILED = json.dumps({"error": "ConfigError: x"})
BAD_FILES = [
    ({"summary.json": GOOD[:-5]}, "0/summary.json"),
    ({"summary.json": "[1, 2]"}, "0/summary.json"),
    ({"failed.json": "{not json"}, "0/failed.json"),
    ({"failed.json": json.dumps({"job": 0})}, "0/failed.json"),
    ({".hydra/overrides.yaml": "- [unclosed\n"}, "0/.hydra/overrides.yaml"),
    ({".hydra/overrides.yaml": "seed: 1\n"}, "0/.hydra/overrides.yaml"),
]


@pytest.mark.parametrize("files,name", BAD_FILES, ids=[n + str(i) for i, (_, n) in
                                                      enumerate(BAD_FILES)])
def test_collect_refuses_a_bad_file_naming_it(tmp_path, capsys, files, name):
    sweep = _sweep(tmp_path, {"0": files})
    with pytest.raises(CollectError, match=name.replace(".", r"\.")):
        collect(sweep, write=False)
    assert collect_main([str(sweep)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pricewars collect: error: ") and name in err[0]
    assert not (sweep / "sweep.parquet").exists()


def test_collect_refuses_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    runs = tmp_path / "runs"
    for t in ("10-00-00", "10-00-01"):
        (runs / t / ".hydra").mkdir(parents=True)
        (runs / t / "summary.json").write_text(GOOD)
    with pytest.raises(CollectError, match="not a sweep folder"):
        collect(runs, write=False)
    assert collect_main([str(runs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "multirun.yaml" in err[0]


def test_collect_a_failure_beside_a_summary_is_failed(tmp_path):
    sweep = _sweep(tmp_path, {"0": {"summary.json": GOOD},
                              "1": {"summary.json": GOOD, "failed.json": FAILED},
                              "2": {}})
    table = collect(sweep, write=False)
    assert list(table["status"]) == ["ok", "failed", "incomplete"]
    assert table.loc[1, "error"] == "ConfigError: x"


def test_help_lists_every_kind_and_its_keys_with_ranges():
    from sim.firms import KINDS as FIRM_KINDS

    text = cli.help_text()
    for name, kind in FIRM_KINDS.items():
        assert f"  {name}: " in text
        for comp in kind.components:
            for f in comp.Config.__dataclass_fields__:
                assert f"    {f}" in text, (comp.__name__, f)
    assert "subsidy_budget_usd (a number in [0, 1e+15] or null" in text


def test_a_signal_inside_compiled_code_is_a_stop_not_a_failure():
    """numba turns an interrupt that arrives while a kernel boxes its result into a
    SystemError caused by the KeyboardInterrupt; the CLI finds the signal under it."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise SystemError("returned a result with an exception set") from inner
    except SystemError as err:
        assert isinstance(cli._signal_under(err), KeyboardInterrupt)
    try:
        try:
            raise cli.Terminated()
        except cli.Terminated:
            raise SystemError("boxing")  # noqa: B904 - the signal as context only
    except SystemError as err:
        assert isinstance(cli._signal_under(err), cli.Terminated)
    assert cli._signal_under(ValueError("plain")) is None


def test_help_lists_the_scenario_keys_with_their_sections_defaults():
    """A nested section's defaults are its default instance's (the segments' price sensitivity
    is lognormal with sigma 0.5), not its class's (constant, sigma 0)."""
    text = cli.help_text()
    assert "  horizon_days (an integer in [1, 36500], default 1095): days simulated" in text
    assert ("  segments.price_sensitivity.dist (one of constant, lognormal, uniform, default "
            "'lognormal')") in text
    assert "  segments.quality_taste.mean (a number in (0, inf), default 0.02)" in text
    assert "  outside.price ([[day or date, value], ...] with values in [0, 1e+06]" in text
    assert "firms." not in text.partition("scenario keys")[2].partition("firm kinds")[0]
