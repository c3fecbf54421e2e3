"""The bitcoin network: retargets against simulated epochs, halvings in integer satoshi,
hashprice and hashcost by hand and against the calibration, the hashrate response, price paths,
the block-epoch helpers and every bad input's error."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.markets import bitcoin as btc

T = btc.TARGET_SPAN_S
D_HALVING = 86.39e12  # difficulty after the 2024-04-20 halving (calibration.md)
D_NOV_2024 = 101.65e12
D_JAN_2026 = 141.67e12


def test_constants():
    assert btc.RETARGET_BLOCKS == 2016
    assert btc.TARGET_BLOCK_S == 600
    assert btc.TARGET_SPAN_S == 1_209_600 == 14 * 86_400
    assert btc.HALVING_BLOCKS == 210_000


# --- retargets ------------------------------------------------------------------------------


def simulate_epochs(difficulty, hashrate_at, epochs):
    """Mine ``epochs`` epochs of 2016 blocks, block ``i`` (counted from 0) arriving
    ``expected_block_seconds`` after the last at the difficulty of its epoch and the hashrate
    ``hashrate_at(i)``; retarget after each epoch on its actual span.  Returns each epoch's
    difficulty and the time of its last block."""
    difficulties, last_block_s = [], []
    i = 0
    for _ in range(epochs):
        span = 0.0
        for _ in range(btc.RETARGET_BLOCKS):
            block_s = btc.expected_block_seconds(difficulty, hashrate_at(i))
            span += block_s
            i += 1
        difficulties.append(difficulty)
        last_block_s.append(block_s)
        difficulty = btc.next_difficulty(difficulty, span)
    return difficulties, last_block_s, difficulty


def test_a_hashrate_step_on_an_epoch_boundary_is_undone_by_the_next_retarget():
    h = 600.0
    d0 = h / btc.implied_hashrate(1.0)  # implied_hashrate is linear in D: 600 s blocks at H
    assert btc.expected_block_seconds(d0, h) == pytest.approx(600.0, rel=1e-15)
    # Epoch 0 at H, then 2H from block 2016 on: epoch 1 takes 2016 * 300 s = T / 2, so the
    # retarget doubles difficulty and blocks take 600 s again from epoch 2.
    difficulties, block_s, _ = simulate_epochs(d0, lambda i: h if i < 2016 else 2 * h, 3)
    assert block_s[0] == pytest.approx(600.0, abs=1e-9)
    assert block_s[1] == pytest.approx(300.0, abs=1e-9)
    assert abs(block_s[2] - 600.0) < 1e-9
    assert difficulties[2] == pytest.approx(2 * d0, rel=1e-12)


def test_a_hashrate_step_inside_an_epoch_takes_a_second_retarget():
    d0 = D_HALVING
    h0 = btc.implied_hashrate(d0)
    # Doubling after 1000 blocks of epoch 0: span = 1000 * 600 + 1016 * 300 = 904,800 s, so the
    # first retarget raises difficulty by 1,209,600 / 904,800 = 1.33687 only and blocks take
    # 300 * 1.33687 = 401.06 s; the second sees a whole epoch at 2H and restores 600 s.
    difficulties, block_s, _ = simulate_epochs(d0, lambda i: h0 if i < 1000 else 2 * h0, 3)
    assert difficulties[1] / d0 == pytest.approx(1_209_600 / 904_800, rel=1e-12)
    assert block_s[1] == pytest.approx(300 * 1_209_600 / 904_800, rel=1e-12)
    assert block_s[1] == pytest.approx(401.06, abs=0.01)
    assert abs(block_s[2] - 600.0) < 1e-9


def test_no_change_at_the_target_span_and_the_exact_clamp():
    d = 1e14
    assert btc.next_difficulty(d, T) == d
    assert btc.next_difficulty(d, T / 2) == 2 * d
    assert btc.next_difficulty(d, 2 * T) == d / 2
    assert btc.next_difficulty(d, T / 4) == 4 * d  # on the boundary: exactly 4
    assert btc.next_difficulty(d, T / 4 * (1 + 1e-12)) < 4 * d  # just inside
    assert btc.next_difficulty(d, T / 8) == 4 * d  # clamped
    assert btc.next_difficulty(d, 1e-300) == 4 * d
    assert btc.next_difficulty(d, 4 * T) == d / 4
    assert btc.next_difficulty(d, 4 * T * (1 - 1e-12)) > d / 4
    assert btc.next_difficulty(d, 1000 * T) == d / 4
    assert btc.next_difficulty(d, 1e300) == d / 4
    np.testing.assert_array_equal(
        btc.next_difficulty(np.array([d, d, d]), np.array([T / 10, T, 10 * T])),
        [4 * d, d, d / 4],
    )


spans = st.floats(min_value=0.0, max_value=1e300, exclude_min=True, allow_nan=False,
                  allow_infinity=False)
difficulties = st.floats(min_value=1.0, max_value=1e20, allow_nan=False, allow_infinity=False)


@given(difficulties, spans)
def test_one_retarget_moves_difficulty_at_most_four_times_either_way(d, span):
    new = btc.next_difficulty(d, span)
    assert d / 4 <= new <= 4 * d
    if T / 4 <= span <= 4 * T:
        assert new == pytest.approx(d * 1_209_600 / span, rel=1e-15)
    elif span < T / 4:
        assert new == 4 * d
    else:
        assert new == d / 4
    # A slower epoch never gives a higher difficulty.
    assert btc.next_difficulty(d, span * 2) <= new


# --- halvings -------------------------------------------------------------------------------


@given(st.integers(0, 9), st.integers(0, btc.HALVING_BLOCKS - 1))
def test_the_subsidy_is_fifty_over_two_to_the_era_in_the_first_ten_eras(k, offset):
    assert btc.block_subsidy(k * 210_000 + offset) == 50 / 2**k


@given(st.integers(0, 63), st.integers(0, btc.HALVING_BLOCKS - 1))
def test_the_subsidy_is_integer_satoshi_halved_by_shifting(k, offset):
    sat = btc.block_subsidy_sat(k * 210_000 + offset)
    assert sat == 5_000_000_000 >> k == 5_000_000_000 // 2**k
    assert btc.block_subsidy(k * 210_000 + offset) == sat / 1e8
    assert abs(sat / 1e8 - 50 / 2**k) < 1e-8  # truncation loses under one satoshi


@given(st.integers(64 * 210_000, 10**15))
def test_no_subsidy_after_sixty_four_halvings(height):
    assert btc.block_subsidy(height) == 0.0
    assert btc.block_subsidy_sat(height) == 0


def test_subsidy_at_the_boundaries():
    assert btc.block_subsidy(0) == 50.0
    assert btc.block_subsidy(209_999) == 50.0
    assert btc.block_subsidy(210_000) == 25.0
    assert btc.block_subsidy(839_999) == 6.25
    assert btc.block_subsidy(840_000) == 3.125  # the 4th halving, 2024-04-20
    # 5e9 = 2^9 * 5^10: era 10 is the first that truncates (5e9 / 1024 = 4,882,812.5 sat).
    assert btc.block_subsidy_sat(10 * 210_000) == 4_882_812
    # 5e9 < 2^33: the shift reaches 0 at the 33rd halving, long before Core's guard at 64.
    assert btc.block_subsidy_sat(32 * 210_000) == 1
    assert btc.block_subsidy_sat(33 * 210_000) == 0
    assert btc.block_subsidy(64 * 210_000) == 0.0
    assert btc.block_subsidy(64 * 210_000 - 1) == 0.0
    np.testing.assert_array_equal(btc.block_subsidy(np.array([0, 839_999, 840_000])),
                                  [50.0, 6.25, 3.125])
    assert btc.block_subsidy(np.int64(840_000)) == 3.125


def test_all_subsidies_sum_to_bitcoins_supply():
    supply_sat = sum(210_000 * btc.block_subsidy_sat(k * 210_000) for k in range(70))
    assert supply_sat == 2_099_999_997_690_000  # 20,999,999.9769 BTC


# --- blocks and hashrate --------------------------------------------------------------------


def test_expected_block_time_and_implied_hashrate_by_hand():
    # 86.39e12 * 2^32 = 3.71040e23 hashes a block; at 600 s that is 6.1840e20 H/s = 618.4 EH/s.
    hashes = 86.39e12 * 4_294_967_296
    assert btc.implied_hashrate(D_HALVING) == pytest.approx(hashes / 600 / 1e18, rel=1e-15)
    assert btc.implied_hashrate(D_HALVING) == pytest.approx(618.4, abs=0.05)
    assert btc.implied_hashrate(D_HALVING, block_s=300) == pytest.approx(1236.8, abs=0.1)
    assert btc.expected_block_seconds(D_HALVING, 618.4037) == pytest.approx(600.0, rel=1e-6)
    # Calibration: "hashrate about 636 EH/s" at 86.39T means 583 s blocks, 3% fast.
    assert btc.expected_block_seconds(D_HALVING, 636) == pytest.approx(583.4, abs=0.05)
    assert 0.95 * 600 < btc.expected_block_seconds(D_HALVING, 636) < 600
    # Inverse functions of each other.
    assert btc.expected_block_seconds(D_HALVING, btc.implied_hashrate(D_HALVING, 437.0)) == (
        pytest.approx(437.0, rel=1e-15))


def test_january_2026_hashrate_and_difficulty_do_not_give_600_s_blocks():
    """calibration.md pairs 870 EH/s with 141.67T: 141.67e12 * 2^32 / 600 = 1014 EH/s at
    600 s blocks, so 870 EH/s means 699 s blocks (the hashrate figure trails the difficulty).
    Hashprice does not depend on the hashrate, so the mismatch does not touch it."""
    assert btc.implied_hashrate(D_JAN_2026) == pytest.approx(1014.1, abs=0.05)
    assert btc.expected_block_seconds(D_JAN_2026, 870) == pytest.approx(699.4, abs=0.05)


def test_epoch_and_halving_heights():
    assert btc.epoch_end(0) == 2016
    assert btc.epoch_end(2015) == 2016
    assert btc.epoch_end(2016) == 4032
    assert btc.epoch_end(840_000) == 840_672  # 417 * 2016; 840,000 = 416 * 2016 + 1344
    assert btc.next_halving_height(0) == 210_000
    assert btc.next_halving_height(839_999) == 840_000
    assert btc.next_halving_height(840_000) == 1_050_000
    np.testing.assert_array_equal(btc.epoch_end(np.array([0, 2016])), [2016, 4032])


@given(st.integers(0, 10**9))
def test_epoch_heights_are_the_next_multiples(height):
    e, h = btc.epoch_end(height), btc.next_halving_height(height)
    assert e % 2016 == 0 and height < e <= height + 2016
    assert h % 210_000 == 0 and height < h <= height + 210_000
    # The block at h is the first paid the halved subsidy: half in integer satoshi always,
    # exactly half in BTC while the halved era is one of the first ten (k <= 9).
    assert btc.block_subsidy_sat(h) == btc.block_subsidy_sat(height) // 2
    if height < 9 * 210_000:
        assert btc.block_subsidy(h) == btc.block_subsidy(height) / 2


def test_blocks_to_days():
    h = btc.implied_hashrate(D_HALVING)
    # 2016 blocks of 600 s are 1,209,600 s = 14 days; at twice the hashrate, 7.
    assert btc.blocks_to_days(2016, D_HALVING, h) == pytest.approx(14.0, rel=1e-14)
    assert btc.blocks_to_days(2016, D_HALVING, 2 * h) == pytest.approx(7.0, rel=1e-14)
    assert btc.blocks_to_days(0, D_HALVING, h) == 0.0
    assert btc.blocks_to_days(144, D_HALVING, h) == pytest.approx(1.0, rel=1e-14)


def test_next_events_from_the_fourth_halving():
    h = btc.implied_hashrate(D_HALVING)
    ev = btc.next_events(840_000, D_HALVING, h)
    assert (ev.height, ev.retarget_height, ev.halving_height) == (840_000, 840_672, 1_050_000)
    assert (ev.blocks_to_retarget, ev.blocks_to_halving) == (672, 210_000)
    assert ev.days_to_retarget == pytest.approx(672 * 600 / 86_400, rel=1e-14)  # 4.667 days
    assert ev.days_to_halving == pytest.approx(210_000 * 600 / 86_400, rel=1e-14)  # 1458.3
    with pytest.raises(AttributeError):
        ev.height = 1  # frozen


# --- hashprice and hashcost -----------------------------------------------------------------


def test_hashprice_by_hand():
    # 1 PH/s for a day: 86,400 s * 1e15 H/s = 8.64e19 hashes; a block at 86.39T takes
    # 86.39e12 * 2^32 = 3.710400e23, so 2.328590e-4 blocks a day, each 3.125 BTC at $64,000
    # ($200,000 a block): 46.57 USD per PH/s per day.
    blocks = 86_400 * 1e15 / (86.39e12 * 2**32)
    assert blocks == pytest.approx(2.32859e-4, rel=1e-5)
    assert btc.hashprice(64_000, D_HALVING, 3.125) == pytest.approx(blocks * 200_000, rel=1e-14)
    assert btc.hashprice(64_000, D_HALVING, 3.125) == pytest.approx(46.57, abs=0.01)
    # Fees add to the subsidy per block; price and BTC per block enter linearly.
    assert btc.hashprice(64_000, D_HALVING, 3.125, 0.25) == pytest.approx(
        blocks * 3.375 * 64_000, rel=1e-14)
    assert btc.hashprice(128_000, D_HALVING, 3.125) == pytest.approx(
        2 * btc.hashprice(64_000, D_HALVING, 3.125), rel=1e-14)
    # Twice the difficulty halves it; after all halvings and without fees it is 0.
    assert btc.hashprice(64_000, 2 * D_HALVING, 3.125) == pytest.approx(46.57 / 2, abs=0.01)
    assert btc.hashprice(64_000, D_HALVING, 0.0) == 0.0
    np.testing.assert_allclose(btc.hashprice(np.array([64_000, 128_000]), D_HALVING, 3.125),
                               [blocks * 200_000, blocks * 400_000], rtol=1e-14)


def test_hashprice_against_the_calibration():
    # After the 2024 halving: "below 50"; 46.6 before fees at $64k.
    after_halving = btc.hashprice(64_000, D_HALVING, 3.125)
    assert 45 < after_halving < 50
    # November 2024, 101.65T and $87k: 8.64e19 / (101.65e12 * 2^32) = 1.97898e-4 blocks a day
    # * 3.125 * 87,000 = 53.80 before fees.  "About 56" then means fees of 1 - 53.80 / 56 = 3.9%
    # of revenue (0.128 BTC a block); fees of 5-8% of revenue would give 56.6-58.5.
    nov = btc.hashprice(87_000, D_NOV_2024, 3.125)
    assert nov == pytest.approx(8.64e19 / (101.65e12 * 2**32) * 3.125 * 87_000, rel=1e-14)
    assert nov == pytest.approx(53.80, abs=0.01)
    fee_share = 1 - nov / 56
    assert 0.0 < fee_share < 0.08
    with_fees = btc.hashprice(87_000, D_NOV_2024, 3.125, 3.125 * 0.05 / 0.95)  # 5% of revenue
    assert with_fees == pytest.approx(56, rel=0.02)
    # January 2026, 141.67T, 34.8: 1 PH/s earns 8.64e19 / (141.67e12 * 2^32) * 3.125
    # = 4.4374e-4 BTC a day, so 34.8 means BTC at 34.8 / 4.4374e-4 = $78,425 before fees.
    btc_per_ph_day = 8.64e19 / (141.67e12 * 2**32) * 3.125
    assert btc_per_ph_day == pytest.approx(4.4374e-4, rel=1e-4)
    implied_price = 34.8 / btc_per_ph_day
    assert implied_price == pytest.approx(78_425, abs=1)
    assert btc.hashprice(implied_price, D_JAN_2026, 3.125) == pytest.approx(34.8, rel=1e-14)


def test_hashcost_and_ph_per_mw_by_hand():
    # 1 PH/s = 1000 TH/s; at 1 J/TH that is 1000 W = 1 kW, 24 kWh = 0.024 MWh a day.
    assert btc.hashcost(1.0, 1.0) == pytest.approx(0.024, rel=1e-15)
    assert btc.hashcost(17.5, 45) == pytest.approx(17.5 * 45 * 0.024, rel=1e-15)  # 18.90
    assert btc.hashcost(17.5, 45) == pytest.approx(18.90, abs=1e-12)
    assert btc.ph_per_mw(17.5) == pytest.approx(1000 / 17.5, rel=1e-15)
    assert btc.ph_per_mw(1.0) == 1000.0
    np.testing.assert_allclose(btc.hashcost(np.array([16.5, 17.5]), 80),
                               [16.5 * 80 * 0.024, 17.5 * 80 * 0.024], rtol=1e-15)


def test_one_megawatt_against_the_calibration():
    """calibration.md: one MW at 17.5 J/TH runs about 57 PH/s, about $0.73M a year of revenue
    at hashprice 35, $1.04M at 50; power about $0.39M/MW-year at 45 USD/MWh."""
    ph = btc.ph_per_mw(17.5)
    assert ph == pytest.approx(57, rel=0.01)  # 57.14
    assert ph * 35 * 365 == pytest.approx(0.73e6, rel=0.02)  # 730,000
    assert ph * 50 * 365 == pytest.approx(1.04e6, rel=0.02)  # 1,042,857
    power_year = ph * btc.hashcost(17.5, 45) * 365
    # The MW draws 24 MWh a day whatever the efficiency: 24 * 45 * 365 = $394,200.
    assert power_year == pytest.approx(24 * 45 * 365, rel=1e-14)
    assert power_year == pytest.approx(0.39e6, rel=0.02)
    assert btc.ph_per_mw(16.5) * btc.hashcost(16.5, 45) == pytest.approx(24 * 45, rel=1e-14)


def test_mining_margin_per_mw_day():
    # 17.5 J/TH at 45 USD/MWh and hashprice 35: 57.14 PH/s * (35 - 18.9) = 920 USD a day,
    # which is 1000 * 35 / 17.5 - 24 * 45 = 2000 - 1080 (about $0.34M a year).
    assert btc.mining_margin_per_mw_day(35, 17.5, 45) == pytest.approx(920, rel=1e-14)
    assert btc.mining_margin_per_mw_day(35, 17.5, 45, switch_off=True) == pytest.approx(920)
    # A 38 J/TH machine at 50 USD/MWh costs 38 * 50 * 0.024 = 45.6 USD/PH/day: at hashprice
    # 45.6 it breaks even; a 40 J/TH one loses 1000 * 45.6 / 40 - 1200 = -60 a MW-day unless
    # switched off (the shutdown rule: it runs only while hashprice covers hashcost).
    assert btc.mining_margin_per_mw_day(45.6, 38, 50) == pytest.approx(0, abs=1e-9)
    assert btc.mining_margin_per_mw_day(45.6, 40, 50) == pytest.approx(-60, rel=1e-12)
    assert btc.mining_margin_per_mw_day(45.6, 40, 50, switch_off=True) == 0.0
    assert btc.mining_margin_per_mw_day(45.6, 17.5, 50, switch_off=True) == pytest.approx(
        1000 * 45.6 / 17.5 - 1200, rel=1e-12)
    np.testing.assert_allclose(
        btc.mining_margin_per_mw_day(np.array([10.0, 35.0]), 17.5, 45, switch_off=True),
        [0.0, 920.0], rtol=1e-14)


# --- rest-of-world hashrate -----------------------------------------------------------------


def test_hashrate_is_constant_at_the_marginal_cost_and_moves_toward_it():
    assert btc.hashrate_response(600.0, 40.0, 40.0, 0.01, 14) == 600.0
    up = btc.hashrate_response(600.0, 50.0, 40.0, 0.01, 14)
    down = btc.hashrate_response(600.0, 30.0, 40.0, 0.01, 14)
    assert up > 600.0 > down
    # Exact solution: H e^{k dt ln(p / c)} = 600 * 1.25^0.14 = 600 e^{0.14 * 0.22314}
    # = 600 * 1.03173 = 619.04 EH/s.
    assert up == pytest.approx(600 * math.exp(0.01 * 14 * math.log(50 / 40)), rel=1e-14)
    assert up == pytest.approx(619.04, abs=0.005)
    assert down == pytest.approx(600 * 0.75**0.14, rel=1e-14)
    # No adjustment with k = 0 or dt = 0.
    assert btc.hashrate_response(600.0, 50.0, 40.0, 0.0, 14) == 600.0
    assert btc.hashrate_response(600.0, 50.0, 40.0, 0.01, 0) == 600.0


@given(st.floats(0.1, 1e4), st.floats(0.1, 1e4), st.floats(0.0, 0.1), st.floats(0.0, 30.0))
def test_hashrate_response_steps_compose(hp, cost, k, dt):
    """Two half steps equal one whole step (the exact solution), and the direction of the move
    is the sign of hashprice - marginal hashcost."""
    once = btc.hashrate_response(700.0, hp, cost, k, dt)
    half = btc.hashrate_response(700.0, hp, cost, k, dt / 2)
    twice = btc.hashrate_response(half, hp, cost, k, dt / 2)
    assert twice == pytest.approx(once, rel=1e-12)
    if hp > cost:
        assert once >= 700.0
    elif hp < cost:
        assert once <= 700.0


# --- price paths ----------------------------------------------------------------------------


def test_gbm_is_seeded():
    a = btc.gbm_path(64_000, 0.2, 0.5, 365, np.random.default_rng(7))
    b = btc.gbm_path(64_000, 0.2, 0.5, 365, np.random.default_rng(7))
    c = btc.gbm_path(64_000, 0.2, 0.5, 365, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (366,) and a[0] == 64_000.0 and (a > 0).all()
    assert btc.gbm_path(64_000, 0.2, 0.5, 0, np.random.default_rng(7)).tolist() == [64_000.0]


def test_gbm_without_volatility_grows_at_the_drift():
    p = btc.gbm_path(100.0, 0.365, 0.0, 10, np.random.default_rng(0))
    np.testing.assert_allclose(p, 100.0 * np.exp(0.001 * np.arange(11)), rtol=1e-14)


def test_gbm_log_returns_have_the_drift_and_volatility_of_the_model():
    """Over 2000 paths a year long (fixed seed), ln(p_365 / p_0) ~ N(mu - sigma^2 / 2, sigma^2):
    with mu = 0.3 and sigma = 0.6 the mean is 0.3 - 0.18 = 0.12, standard error 0.6 / sqrt(2000)
    = 0.0134; the standard deviation 0.6 with standard error about 0.6 / sqrt(4000) = 0.0095.
    Daily log returns have mean 0.12 / 365 and standard deviation 0.6 / sqrt(365)."""
    mu, sigma, n = 0.3, 0.6, 2000
    rng = np.random.default_rng(20240420)
    paths = np.array([btc.gbm_path(64_000, mu, sigma, 365, rng) for _ in range(n)])
    annual = np.log(paths[:, -1] / paths[:, 0])
    assert abs(annual.mean() - (mu - sigma**2 / 2)) < 4 * sigma / math.sqrt(n)
    assert abs(annual.std(ddof=1) - sigma) < 4 * sigma / math.sqrt(2 * n)
    daily = np.diff(np.log(paths), axis=1).ravel()
    assert abs(daily.mean() - (mu - sigma**2 / 2) / 365) < 4 * sigma / math.sqrt(365 * daily.size)
    assert daily.std() == pytest.approx(sigma / math.sqrt(365), rel=0.01)


def test_path_from_points():
    # Day 10 at 60,000 and day 20 at 80,000: day 15 is 70,000, day 12 is 64,000; flat before
    # day 10 and after day 20.
    p = btc.path_from_points(30, {10: 60_000, 20: 80_000})
    assert p.shape == (31,)
    assert p[0] == p[10] == 60_000.0
    assert p[12] == pytest.approx(64_000.0, rel=1e-15)
    assert p[15] == pytest.approx(70_000.0, rel=1e-15)
    assert p[20] == p[30] == 80_000.0
    # A list of pairs in any order gives the same path.
    np.testing.assert_array_equal(btc.path_from_points(30, [(20, 80_000), (10, 60_000)]), p)
    # One point is a constant; points outside the days still shape the line between them.
    np.testing.assert_array_equal(btc.path_from_points(3, [(1, 5.0)]), [5.0] * 4)
    np.testing.assert_allclose(btc.path_from_points(2, [(-2, 0.0), (4, 6.0)]), [2.0, 3.0, 4.0])
    assert btc.path_from_points(0, {0: 1.5, 5: 2.0}).tolist() == [1.5]
    # Fees may be zero.
    np.testing.assert_array_equal(btc.path_from_points(2, {0: 0.0, 2: 0.2}), [0.0, 0.1, 0.2])


# --- bad inputs -----------------------------------------------------------------------------


RNG = np.random.default_rng(0)
BAD = [
    (btc.next_difficulty, (0, T), "difficulty 0.0"),
    (btc.next_difficulty, (-1e12, T), "difficulty -1000000000000.0"),
    (btc.next_difficulty, (math.nan, T), "difficulty nan"),
    (btc.next_difficulty, (math.inf, T), "difficulty inf"),
    (btc.next_difficulty, ("lots", T), "difficulty 'lots'"),
    (btc.next_difficulty, (1e12, 0), "actual_span_s 0.0"),
    (btc.next_difficulty, (1e12, -600), "actual_span_s -600.0"),
    (btc.next_difficulty, (1e12, math.inf), "actual_span_s inf"),
    (btc.next_difficulty, (np.array([1e12, 1e12]), np.array([T, 0.0])), "actual_span_s 0.0"),
    (btc.block_subsidy, (-1,), "height -1"),
    (btc.block_subsidy, (840_000.0,), "height 840000.0"),
    (btc.block_subsidy, (True,), "height True"),
    (btc.block_subsidy, ("840000",), "height '840000'"),
    (btc.block_subsidy_sat, (np.array([0, -5]),), "height -5"),
    (btc.expected_block_seconds, (0, 600), "difficulty 0.0"),
    (btc.expected_block_seconds, (1e12, 0), "hashrate_eh_s 0.0"),
    (btc.expected_block_seconds, (1e12, math.nan), "hashrate_eh_s nan"),
    (btc.implied_hashrate, (-1,), "difficulty -1.0"),
    (btc.implied_hashrate, (1e12, 0), "block_s 0.0"),
    (btc.hashprice, (0, D_HALVING, 3.125), "btc_price_usd 0.0"),
    (btc.hashprice, (64_000, 0, 3.125), "difficulty 0.0"),
    (btc.hashprice, (64_000, D_HALVING, -3.125), "subsidy_btc -3.125"),
    (btc.hashprice, (64_000, D_HALVING, 3.125, -0.1), "fees_btc_per_block -0.1"),
    (btc.hashprice, (64_000, D_HALVING, 3.125, math.nan), "fees_btc_per_block nan"),
    (btc.hashcost, (0, 45), "efficiency_j_per_th 0.0"),
    (btc.hashcost, (17.5, -45), "power_usd_per_mwh -45.0"),
    (btc.hashcost, (17.5, math.inf), "power_usd_per_mwh inf"),
    (btc.ph_per_mw, (-17.5,), "efficiency_j_per_th -17.5"),
    (btc.mining_margin_per_mw_day, (-1, 17.5, 45), "hashprice -1.0"),
    (btc.mining_margin_per_mw_day, (35, 0, 45), "efficiency_j_per_th 0.0"),
    (btc.mining_margin_per_mw_day, (35, 17.5, -1), "power_usd_per_mwh -1.0"),
    (btc.hashrate_response, (0, 50, 40, 0.01, 1), "hashrate_eh_s 0.0"),
    (btc.hashrate_response, (600, 0, 40, 0.01, 1), "hashprice 0.0"),
    (btc.hashrate_response, (600, 50, 0, 0.01, 1), "hashcost_marginal 0.0"),
    (btc.hashrate_response, (600, 50, 40, -0.01, 1), "elasticity -0.01"),
    (btc.hashrate_response, (600, 50, 40, 0.01, -1), "dt_days -1.0"),
    (btc.gbm_path, (0, 0.1, 0.5, 10, RNG), "p0 0.0"),
    (btc.gbm_path, (1, math.inf, 0.5, 10, RNG), "mu_per_year inf"),
    (btc.gbm_path, (1, 0.1, -0.5, 10, RNG), "sigma_per_year -0.5"),
    (btc.gbm_path, (1, 0.1, 0.5, -1, RNG), "days -1"),
    (btc.gbm_path, (1, 0.1, 0.5, 10.5, RNG), "days 10.5"),
    (btc.path_from_points, (-1, {0: 1.0}), "days -1"),
    (btc.path_from_points, (10, {}), "points []"),
    (btc.path_from_points, (10, [(0, 1.0), (0, 2.0)]), "points day 0.0"),
    (btc.path_from_points, (10, {0: 1.0, 5: math.nan}), "points value nan"),
    (btc.path_from_points, (10, {math.inf: 1.0}), "points day inf"),
    (btc.path_from_points, (10, [(0, 1.0, 2.0)]), "points [(0, 1.0, 2.0)]"),
    (btc.path_from_points, (10, [1.0, 2.0]), "points [1.0, 2.0]"),
    (btc.epoch_end, (-1,), "height -1"),
    (btc.next_halving_height, (1.5,), "height 1.5"),
    (btc.blocks_to_days, (-1, D_HALVING, 600), "blocks -1.0"),
    (btc.blocks_to_days, (2016, D_HALVING, 0), "hashrate_eh_s 0.0"),
    (btc.next_events, (1.5, D_HALVING, 600), "height 1.5"),
    (btc.next_events, (-1, D_HALVING, 600), "height -1"),
    (btc.next_events, (0, D_HALVING, -600), "hashrate_eh_s -600.0"),
]


@pytest.mark.parametrize(("fn", "args", "named"), BAD,
                         ids=[f"{f.__name__}-{named}" for f, _, named in BAD])
def test_bad_input_raises_a_value_error_naming_it(fn, args, named):
    with pytest.raises(ValueError, match="^" + re.escape(named) + ":"):
        fn(*args)


def test_gbm_wants_a_generator():
    with pytest.raises(TypeError, match="rng"):
        btc.gbm_path(1.0, 0.1, 0.5, 10, 42)
    with pytest.raises(TypeError, match="rng"):
        btc.gbm_path(1.0, 0.1, 0.5, 10, np.random.RandomState(0))
