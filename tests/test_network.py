"""The bitcoin network as a world process (sim/world/network.py): retargets and halvings at the
times their blocks imply, computed here by hand from difficulty and hashrate; the daily BTC price,
fees and rest-of-world hashrate; the market columns; runs without it untouched; bad config."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import simpy
from conftest import run_cli
from invariants import NETWORK_COLUMNS, WITHOUT_HOSTS

import sim
from sim.core.errors import ConfigError
from sim.core.params import param
from sim.firms import Component
from sim.world.model import PriceWarModel
from sim.world.network import BitcoinNetwork

DUO = ["scenario=logit_duopoly", "bitcoin.enabled=true"]
DAY_S = 86_400
# The difficulty at which 600 EH/s mines a block every 600 s: 600 * 600e18 / 2^32.
D600 = 600 * 600e18 / 2**32


def _events(result, kind):
    return result.events[result.events["kind"] == kind].reset_index(drop=True)


def _block_s(difficulty, hashrate_eh_s):
    """Seconds a block takes, by hand: difficulty * 2^32 hashes at hashrate * 1e18 a second."""
    return difficulty * 2**32 / (hashrate_eh_s * 1e18)


def _hashprice(price, difficulty, subsidy, fees):
    """USD per PH/s per day, by hand: 1 PH/s finds 86400 * 1e15 / (2^32 D) blocks a day."""
    return 86_400 * 1e15 / (difficulty * 2**32) * (subsidy + fees) * price


# ----------------------------------------------------------------------------- retargets
def test_a_hashrate_doubling_is_undone_by_the_retarget_after_it():
    """600 s blocks (D600 at 600 EH/s) from 12 blocks into an epoch: the first retarget, 2004
    blocks later at day 13.917, sees 600 s blocks and keeps D.  The rest of the world doubles
    on the morning of day 14, 12 blocks (2 hours) into the next epoch, so that epoch takes
    12 * 600 + 2004 * 300 s = 2028/2016 of half the target span, the retarget moves D by
    2 * 2016 / 2028 = 1.988 (about x2, under x4), and the epoch after it has blocks of
    600 * 2016 / 2028 = 596.4 s, within 1% of 600 s; the retarget after that restores 600 s
    exactly (D -> 2 D)."""
    r = sim.run([*DUO, "horizon_days=50", "bitcoin.start_height=836652",
                 f"bitcoin.difficulty={D600!r}",
                 "bitcoin.world_hashrate_eh_s=[[0, 600], [13, 600], [14, 1200]]"])
    ret = _events(r, "retarget")
    t = ret["time"].to_numpy()
    # By hand: 2004 blocks of 600 s, then 12 of 600 s and 2004 of 300 s, then 2016 of 596.4 s.
    t1 = 2004 * 600 / DAY_S
    t2 = t1 + (12 * 600 + 2004 * 300) / DAY_S
    t3 = t2 + 2016 * 600 * 2016 / 2028 / DAY_S
    t4 = t3 + 2016 * 600 / DAY_S
    np.testing.assert_allclose(t, [t1, t2, t3, t4], rtol=1e-12)
    assert t1 < 14 < t2
    d = np.concatenate(([D600], ret["value"].to_numpy()))
    ratios = d[1:] / d[:-1]
    np.testing.assert_allclose(ratios[0], 1.0, rtol=1e-12)
    assert ratios[1] == pytest.approx(2 * 2016 / 2028, rel=1e-12)  # 1.988
    assert 1.9 < ratios[1] <= 4
    mean_block = (t3 - t2) * DAY_S / 2016
    assert abs(mean_block / 600 - 1) < 0.01
    assert (t[2] - t[1]) * DAY_S / 2016 == pytest.approx(600 * 2016 / 2028, rel=1e-9)
    assert d[3] == pytest.approx(2 * D600, rel=1e-12)  # the second retarget: exactly 600 s again
    assert (t[3] - t[2]) * DAY_S / 2016 == pytest.approx(600, rel=1e-9)
    # The detail says the same in words.
    assert ret["detail"][0] == (f"height 838656: difficulty {D600 / 1e12:.2f}T -> "
                                f"{d[1] / 1e12:.2f}T (mean block 600 s)")  # 836652 + 2004
    assert ret["detail"][1] == (f"height 840672: difficulty {d[1] / 1e12:.2f}T -> "
                                f"{d[2] / 1e12:.2f}T (mean block 302 s)")  # 608400 s / 2016
    # The market columns agree: each day's height is the blocks mined by its clearing.
    m = r.market.set_index("day")
    assert m.loc[0, "block_height"] == pytest.approx(836_652 + 0.5 * DAY_S / 600, rel=1e-12)
    assert m.loc[13, "difficulty"] == D600 and m.loc[21, "difficulty"] == d[2]
    assert m.loc[13, "network_hashrate_eh_s"] == 600 and m.loc[14, "network_hashrate_eh_s"] == 1200


def test_the_partial_first_epoch_is_extrapolated_to_2016_blocks():
    """From 1000 blocks before a retarget at 700 EH/s and D600 (blocks of 600 * 600 / 700 s):
    the partial epoch's 1000 blocks are scaled to 2016, so the retarget moves D by 700 / 600,
    as a whole epoch at 700 EH/s would have."""
    r = sim.run([*DUO, "horizon_days=10", "bitcoin.start_height=837656",
                 f"bitcoin.difficulty={D600!r}", "bitcoin.world_hashrate_eh_s=[[0, 700]]"])
    ret = _events(r, "retarget")
    assert ret["time"][0] == pytest.approx(1000 * _block_s(D600, 700) / DAY_S, rel=1e-12)
    assert ret["value"][0] == pytest.approx(D600 * 700 / 600, rel=1e-12)
    assert ret["detail"][0].endswith(f"(mean block {600 * 600 / 700:.0f} s)")  # 514 s


def test_a_hosts_hashrate_change_moves_the_next_retarget():
    """The interface a mining firm uses: it changes its hashrate and calls hashrate_changed();
    the tip is advanced at the old rate and the next event recomputed at the new one.  1000
    blocks before a retarget at 600 s blocks; a host adds 600 EH/s after one day (144 blocks
    mined), so the other 856 take 300 s each: the retarget comes at 1 + 856 * 300 / 86400
    days, and the partial epoch's span, scaled to 2016 blocks, sets D."""
    cfg = sim.validate(sim.compose([*DUO, "bitcoin.start_height=837656",
                                    f"bitcoin.difficulty={D600!r}"]))
    env = simpy.Environment()
    hosts = [0.0]
    logged = []
    net = BitcoinNetwork(cfg.bitcoin, cfg, env, np.random.default_rng(0),
                         hosts_hashrate=lambda: hosts[0],
                         log=lambda firm, kind, detail, value: logged.append((env.now, kind,
                                                                             value)))
    assert (net.height, net.difficulty, net.subsidy_btc) == (837_656, D600, 6.25)
    assert net.hashrate_eh_s == 600 and net.world_hashrate_eh_s == 600
    env.run(until=1.0)
    assert net.height == pytest.approx(837_656 + 144, rel=1e-15)
    hosts[0] = 600.0
    net.hashrate_changed()
    assert net.hashrate_eh_s == 1200 and net.world_hashrate_eh_s == 600
    assert net.height == pytest.approx(837_800, rel=1e-15)  # mined at the old rate
    assert net.days_to_next_event() == pytest.approx(856 * 300 / DAY_S, rel=1e-12)
    env.run(until=5.0)
    t = 1 + 856 * 300 / DAY_S
    span_s = t * DAY_S * 2016 / 1000
    assert logged == [(pytest.approx(t, rel=1e-12), "retarget",
                       pytest.approx(D600 * 2016 * 600 / span_s, rel=1e-12))]
    assert net.retargets == 1 and net.next_event_height == 840_000  # the halving first
    # Several changes at one instant are one recomputation; no change leaves the time alone.
    net.hashrate_changed()
    net.hashrate_changed()
    env.run(until=5.5)
    assert net.height == pytest.approx(838_656 + (5.5 - t) * DAY_S / _block_s(net.difficulty,
                                                                             1200), rel=1e-12)


class _ToyMiner(Component):
    """A firm's miner as the network sees it: ``hashrate_eh_s``, announced by
    ``hashrate_changed()`` when it starts, doubles at day 2.25 and when the firm exits at 5.5."""

    role = "miner"

    @dataclasses.dataclass
    class Config:
        hashrate_eh_s: float = param(0.0, 0, 1e4, unit="EH/s", doc="hashrate")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.hashrate_eh_s = cfg.hashrate_eh_s
        self.day_mw_on = self.day_revenue = 0.0  # the firms table's miner columns

    def start(self) -> None:
        self.firm.model.bitcoin.hashrate_changed()
        self.firm.process(self._life())

    def _life(self):
        yield self.firm.env.timeout(2.25)
        self.hashrate_eh_s *= 2
        self.firm.model.bitcoin.hashrate_changed()
        yield self.firm.env.timeout(5.5 - 2.25)
        self.firm.exit("done mining")


def test_a_mining_firms_hashrate_joins_the_network_and_leaves_with_it():
    """A firm with a ``miner`` (600 EH/s) beside the rest of the world's 600 EH/s at D600:
    300 s blocks from 1000 blocks before a retarget; at day 2.25 (648 blocks mined) it doubles,
    so the other 352 blocks take 200 s; it exits at day 5.5 and the network is back to 600
    EH/s, whose blocks at the retargeted difficulty set the next retarget's time."""
    from sim.firms import KINDS, Firm, GpuFleet, Ledger, TokenSeller
    from sim.validation import firm_section

    @KINDS.register("toy_miner")
    class ToyMinerFirm(Firm):
        kind = "toy_miner"
        components = (Ledger, GpuFleet, TokenSeller, _ToyMiner)

    try:
        cfg = sim.validate(sim.compose([*DUO, "horizon_days=31", "bitcoin.start_height=837656",
                                        f"bitcoin.difficulty={D600!r}"]))
        cfg.firms["m"] = firm_section("firms.m", {"kind": "toy_miner", "hashrate_eh_s": 600.0,
                                                  "pricing": {"rule": "cost_plus"}})
        model = PriceWarModel(sim.validate(cfg))
        assert model.hosts_hashrate_eh_s() == 600
        model.run()
    finally:
        KINDS._items.pop("toy_miner")
    _, market, events = model.tables()
    t1 = 2.25 + 352 * 200 / DAY_S  # 648 blocks of 300 s, then 352 of 200 s
    span_s = t1 * DAY_S * 2016 / 1000  # the partial first epoch, extrapolated
    d1 = D600 * 2016 * 600 / span_s
    mined = (5.5 - t1) * DAY_S / _block_s(d1, 1800)  # blocks of the new epoch before the exit
    t2 = 5.5 + (2016 - mined) * _block_s(d1, 600) / DAY_S
    ret = events[events["kind"] == "retarget"].reset_index(drop=True)
    np.testing.assert_allclose(ret["time"][:2], [t1, t2], rtol=1e-12)
    assert ret["value"][0] == pytest.approx(d1, rel=1e-12)
    assert model.exits == {"m": 5} and model.hosts_hashrate_eh_s() == 0
    h = market.set_index("day")["network_hashrate_eh_s"]
    assert list(h[:7]) == [1200, 1200, 1800, 1800, 1800, 600, 600]  # the exit before noon


# ----------------------------------------------------------------------------- halvings
HALVING_RUN = [*DUO, "horizon_days=12", "bitcoin.start_height=839000",
               "bitcoin.fees_btc_per_block=[[0, 0]]"]


def test_the_halving_comes_at_the_time_its_blocks_imply(run_cached):
    """From 839,000 at 86.39T and 600 EH/s, 1000 blocks of 86.39e12 * 2^32 / 600e18 = 618.4 s
    bring the tip to 840,000 after 7.157 days; no retarget falls between (the next is 840,672).
    The day's clearing (at d + 0.5, after the halving) records 3.125 BTC, and hashprice halves
    with it (zero fees, BTC at $64k throughout)."""
    r = run_cached(*HALVING_RUN)
    halving = _events(r, "halving")
    t_h = 1000 * _block_s(86.39e12, 600) / DAY_S
    assert t_h == pytest.approx(7.1575, abs=1e-4)
    assert len(halving) == 1 and halving["time"][0] == pytest.approx(t_h, rel=1e-12)
    assert halving["detail"][0] == "height 840000: subsidy 6.25 -> 3.125 BTC"
    assert halving["value"][0] == 3.125
    # The next retarget, 672 blocks on at 840,672, is the first (after the halving).
    ret = _events(r, "retarget")
    assert len(ret) == 1
    assert ret["time"][0] == pytest.approx(t_h + 672 * _block_s(86.39e12, 600) / DAY_S,
                                           rel=1e-12)
    m = r.market.set_index("day")
    day = math.ceil(t_h - 0.5)  # the first clearing after the halving
    assert day == 7 == int(t_h)
    assert (m.loc[:day - 1, "block_subsidy_btc"] == 6.25).all()
    assert (m.loc[day:, "block_subsidy_btc"] == 3.125).all()
    hp = m["hashprice_usd_per_ph_day"]
    assert hp[day - 1] == pytest.approx(_hashprice(64_000, 86.39e12, 6.25, 0), rel=1e-12)
    assert hp[day] == pytest.approx(hp[day - 1] / 2, rel=1e-12)
    assert hp[day] == pytest.approx(46.57, abs=0.01)  # calibration.md: "below 50"
    assert m.loc[day, "block_height"] == pytest.approx(840_000 + (day + 0.5 - t_h) * DAY_S
                                                       / _block_s(86.39e12, 600), rel=1e-12)


def test_without_halvings_the_subsidy_stays_put():
    r = sim.run([*HALVING_RUN, "bitcoin.halvings=false"])
    assert _events(r, "halving").empty
    m = r.market
    assert (m["block_subsidy_btc"] == 6.25).all()
    assert m["block_height"].iloc[-1] > 840_000
    np.testing.assert_allclose(m["hashprice_usd_per_ph_day"],
                               _hashprice(64_000, m["difficulty"], 6.25, 0), rtol=1e-12)
    assert m["difficulty"].iloc[0] == 86.39e12


# ----------------------------------------------------------------------------- daily paths
GBM = [*DUO, "horizon_days=30", "bitcoin.btc_model=gbm", "bitcoin.btc_volatility_per_year=0.8"]


def test_the_gbm_price_is_drawn_once_per_seed(run_cached):
    a = run_cached(*GBM).market[NETWORK_COLUMNS]
    b = sim.run(GBM).market[NETWORK_COLUMNS]
    pd.testing.assert_frame_equal(a, b)
    c = sim.run([*GBM, "seed=1"]).market[NETWORK_COLUMNS]
    price_a, price_c = a["btc_price_usd"].to_numpy(), c["btc_price_usd"].to_numpy()
    assert price_a[0] == price_c[0] == 64_000  # p0: the path's day-0 value
    assert not np.array_equal(price_a, price_c)
    assert len(np.unique(price_a)) == 30


def test_every_days_hashprice_is_its_formula():
    """The market row's hashprice is recomputed from its own price, difficulty, subsidy and the
    configured fee path, on a run with a GBM price, a fee ramp and a halving."""
    r = sim.run([*GBM, "bitcoin.fees_btc_per_block=[[0, 0.1], [29, 0.4]]",
                  "bitcoin.start_height=839500"])
    m = r.market
    fees = np.interp(m["day"], [0, 29], [0.1, 0.4])
    assert (m["block_subsidy_btc"] == 3.125).any() and (m["block_subsidy_btc"] == 6.25).any()
    np.testing.assert_allclose(m["hashprice_usd_per_ph_day"],
                               _hashprice(m["btc_price_usd"], m["difficulty"],
                                          m["block_subsidy_btc"], fees), rtol=1e-12)


def test_a_price_path_with_dates_is_read_in_calendar_days():
    r = sim.run([*DUO, "horizon_days=10", "start_date=2024-04-01",
                 "bitcoin.btc_price_usd=[[2024-04-03, 60000], [2024-04-08, 70000]]"])
    p = r.market.set_index("day")["btc_price_usd"]
    assert p[0] == p[2] == 60_000 and p[5] == 66_000 and p[7] == p[9] == 70_000


def test_the_rest_of_the_world_answers_hashprice():
    """hashrate_model=response: dH/H = k ln(hashprice / hashcost) a day, the marginal miner's
    hashcost 25 J/TH * 60 USD/MWh * 0.024 = 36 USD/PH/day.  At $64k (hashprice about 94.6)
    the hashrate rises; after BTC falls to $20k on day 20 (about 29.6) it falls (no halving, so
    that hashprice moves only with the BTC price and the retargets).  On days with
    no retarget between yesterday's and today's clearing the step is exact:
    H_d = H_{d-1} (hashprice_d / 36)^k."""
    k = 0.02
    r = sim.run([*DUO, "horizon_days=40", "bitcoin.hashrate_model=response",
                 "bitcoin.halvings=false",
                 f"bitcoin.hashrate_response_per_day={k}",
                 "bitcoin.btc_price_usd=[[0, 64000], [19, 64000], [20, 20000]]"])
    m = r.market.set_index("day")
    hc = 25 * 60 * 0.024
    h, hp, d = m["network_hashrate_eh_s"], m["hashprice_usd_per_ph_day"], m["difficulty"]
    assert h[0] == 600
    assert (hp[:19] > hc).all() and (np.diff(h[:20]) > 0).all()
    assert (hp[20:] < hc).all() and (np.diff(h[19:]) < 0).all()
    calm = [day for day in range(1, 40) if d[day] == d[day - 1]]
    assert len(calm) > 30
    for day in calm:
        assert h[day] == pytest.approx(h[day - 1] * (hp[day] / hc) ** k, rel=1e-12), day
    assert hp[1] == pytest.approx(_hashprice(64_000, 86.39e12, 6.25, 0.1), rel=1e-12)
    # Feedback runs through the retargets: the rising hashrate raised the difficulty, which
    # lowered hashprice at a constant BTC price.
    ret = _events(r, "retarget")["value"].to_numpy()
    assert (np.diff(ret) > 0).all() and ret[0] > 86.39e12
    assert hp[19] < hp[0]


# ----------------------------------------------------------------------------- the model
def test_hosts_hashrate_is_zero_without_miners():
    model = PriceWarModel(sim.validate(sim.compose([*DUO, "horizon_days=3"])))
    assert model.hosts_hashrate_eh_s() == 0
    assert model.bitcoin.hashrate_eh_s == model.bitcoin.world_hashrate_eh_s == 600
    model.run()
    assert model.bitcoin.height == pytest.approx(838_000 + 3 * DAY_S / _block_s(86.39e12, 600),
                                                 rel=1e-12)


def test_runs_without_the_network_have_no_network(run_cached):
    r = run_cached(*WITHOUT_HOSTS, "horizon_days=30")
    assert not r.config.bitcoin.enabled
    assert r.events["kind"].isin(["retarget", "halving"]).sum() == 0
    assert r.market[NETWORK_COLUMNS].isna().all().all()
    cols = list(r.market.columns)
    assert cols[cols.index("deadweight_loss_usd") + 1:][:6] == NETWORK_COLUMNS
    assert PriceWarModel(r.config).bitcoin is None


def test_the_network_columns_are_written_and_read_back(tmp_path):
    from sim.output import io

    r = sim.run([*DUO, "horizon_days=5", "output.figures=false"], out_dir=tmp_path)
    back = pd.read_parquet(tmp_path / "market.parquet")
    pd.testing.assert_frame_equal(back[NETWORK_COLUMNS], r.market[NETWORK_COLUMNS])
    assert io.read(tmp_path)["market"]["difficulty"].iloc[0] == 86.39e12


# ----------------------------------------------------------------------------- bad config
BAD = [
    (["bitcoin.btc_volatility_per_year=-1"], "bitcoin.btc_volatility_per_year",
     "a number in [0, 5]"),
    (["bitcoin.btc_model=foo"], "bitcoin.btc_model", "path, gbm"),
    (["bitcoin.hashrate_model=magic"], "bitcoin.hashrate_model", "path, response"),
    (["bitcoin.start_height=-1"], "bitcoin.start_height", "an integer in [0, 6929999]"),
    (["bitcoin.start_height=1.5"], "bitcoin.start_height", "an integer in [0, 6929999]"),
    (["bitcoin.difficulty=0"], "bitcoin.difficulty", "a number in (0, 1e+18]"),
    (["bitcoin.world_hashrate_eh_s=[[0, 600], [10, 0]]"], "bitcoin.world_hashrate_eh_s[1][1]",
     "a number in (0, 1e+06]"),
    (["bitcoin.btc_price_usd=[[0, -5]]"], "bitcoin.btc_price_usd[0][1]",
     "a number in (0, 1e+09]"),
    (["bitcoin.fees_btc_per_block=[[3, 0.1], [1, 0.2]]"], "bitcoin.fees_btc_per_block",
     "points in strictly increasing time order"),
    (["bitcoin.hashrate_response_per_day=2"], "bitcoin.hashrate_response_per_day",
     "a number in [0, 1]"),
    (["bitcoin.marginal_power_usd_per_mwh=0"], "bitcoin.marginal_power_usd_per_mwh",
     "a number in (0, 10000]"),
    (["bitcoin.enabled=maybe"], "bitcoin.enabled", "true or false"),
    (["bitcoin.halvings=2"], "bitcoin.halvings", "true or false"),
    (["bitcoin.hashrate=600"], "bitcoin.hashrate", "keys of"),
]


@pytest.mark.parametrize("overrides,key,allowed", BAD, ids=[" ".join(o) for o, _, _ in BAD])
def test_bad_value_is_one_line_naming_key_value_and_range(overrides, key, allowed):
    with pytest.raises(ConfigError) as info:
        sim.validate(sim.compose(overrides))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{key}="), message
    value = overrides[0].partition("=")[2]
    if "[" not in value:
        assert value in message.partition(":")[0], message
    assert f"allowed: {allowed}" in message, message


def test_bad_bitcoin_value_on_the_command_line_exits_2(tmp_path):
    proc = run_cli(["bitcoin.btc_volatility_per_year=-1"], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ["pricewars: error: bitcoin.btc_volatility_per_year=-1: out of range; "
                     "allowed: a number in [0, 5]"]
    assert not (tmp_path / "outputs").exists()


def test_help_lists_the_network_keys():
    from sim import cli

    text = cli.help_text()
    for key in ("bitcoin.enabled", "bitcoin.start_height", "bitcoin.btc_model",
                "bitcoin.world_hashrate_eh_s", "bitcoin.marginal_power_usd_per_mwh"):
        assert f"  {key} (" in text, key
    assert "bitcoin.btc_model (one of path, gbm, default 'path')" in text
