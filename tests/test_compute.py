"""The compute market's double auction: the issue's worked cases, cases solved by hand, an
independent unit-by-unit oracle, and hypothesis property tests."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.markets import compute

finite = {"allow_nan": False, "allow_infinity": False}


def _clear(asks, bids):
    """``compute.clear`` on lists of ``(price, volume)`` pairs."""
    a = np.array(asks, dtype=float).reshape(-1, 2)
    b = np.array(bids, dtype=float).reshape(-1, 2)
    return compute.clear(a[:, 0], a[:, 1], b[:, 0], b[:, 1])


def _assert_clearing(r, price, volume, sold, bought, low=None, high=None):
    assert r.price == pytest.approx(price)
    assert r.volume == pytest.approx(volume)
    np.testing.assert_allclose(r.sold, sold)
    np.testing.assert_allclose(r.bought, bought)
    if low is not None:
        assert (r.low, r.high) == pytest.approx((low, high))


# --- The worked cases ------------------------------------------------------------------


def test_a_partially_filled_marginal_ask_pins_the_price():
    r = _clear([(1, 10), (2, 10), (3, 10)], [(2.5, 15)])
    _assert_clearing(r, price=2, volume=15, sold=[10, 5, 0], bought=[15], low=2, high=2)


def test_a_partially_filled_marginal_bid_pins_the_price():
    r = _clear([(1, 10)], [(5, 8), (4, 8)])
    _assert_clearing(r, price=4, volume=10, sold=[10], bought=[8, 2], low=4, high=4)


def test_a_vertical_stretch_clears_at_its_middle():
    # Every price in [1, 3] clears 10: the midpoint.
    r = _clear([(1, 10)], [(3, 10)])
    _assert_clearing(r, price=2, volume=10, sold=[10], bought=[10], low=1, high=3)


def test_equal_asks_share_the_marginal_volume_equally():
    r = _clear([(2, 10), (2, 10)], [(3, 10)])
    _assert_clearing(r, price=2, volume=10, sold=[5, 5], bought=[10], low=2, high=2)


def test_no_trade_when_the_ask_is_above_the_bid():
    r = _clear([(3, 10)], [(2, 10)])
    assert math.isnan(r.price) and math.isnan(r.low) and math.isnan(r.high)
    assert r.volume == 0.0
    np.testing.assert_array_equal(r.sold, [0.0])
    np.testing.assert_array_equal(r.bought, [0.0])
    assert (r.supply, r.demand, r.unsold, r.unmet) == (10.0, 10.0, 10.0, 10.0)


# --- Cases solved by hand ----------------------------------------------------------------------


def test_demand_crossing_supply_in_the_middle_of_a_horizontal_step():
    # S: 5 at 1, 10 at 2, 20 at 4.  D: 4 at 6, 12 at 3, 15 at 2.
    # min(S, D) at the order prices 1, 2, 3, 4, 6: 5, 10, 10, 4, 4, so Q* = 10.
    # Asks: cumulative 5, 10 reaches 10 at the ask at 2, exactly (filled in full); the lowest
    # unfilled ask is at 4.  Bids: cumulative 4, 12 reaches 10 at the bid at 3, which gets
    # 10 - 4 = 6 of its 8 (partial), so it pins the price: low = max(2, 3) = 3,
    # high = min(3, 4) = 3.  The bid at 2 gets nothing.
    r = _clear([(1, 5), (2, 5), (4, 10)], [(6, 4), (3, 8), (2, 3)])
    _assert_clearing(r, price=3, volume=10, sold=[5, 5, 0], bought=[4, 6, 0], low=3, high=3)
    assert r.unmet == pytest.approx(5) and r.unsold == pytest.approx(10)


def test_ties_on_both_sides():
    # Asks (1, 3), (2, 4), (2, 4): S = 3 at 1, 11 at 2.  Bids (5, 2), (3, 3), (3, 3): D = 2 at 5,
    # 8 at 3.  min(S, D) at 1, 2, 3, 5: 3, 8, 8, 2, so Q* = 8.  The ask level at 2 (8 GPU-hours)
    # sells 8 - 3 = 5, 2.5 each (partial: price pinned at 2).  The bid level at 3 buys
    # 8 - 2 = 6, its whole volume, 3 each; no bid is left unfilled.  low = max(2, -inf) = 2,
    # high = min(3, 2) = 2.
    r = _clear([(1, 3), (2, 4), (2, 4)], [(5, 2), (3, 3), (3, 3)])
    _assert_clearing(r, price=2, volume=8, sold=[3, 2.5, 2.5], bought=[2, 3, 3], low=2, high=2)


def test_all_orders_at_one_price_with_both_sides_tied():
    # Everything at 1: S(1) = 10, D(1) = 5, Q* = 5.  The asks share 5 pro rata to 4 and 6
    # (2 and 3), the bids are filled in full; the price can only be 1.
    r = _clear([(1, 4), (1, 6)], [(1, 3), (1, 2)])
    _assert_clearing(r, price=1, volume=5, sold=[2, 3], bought=[3, 2], low=1, high=1)


def test_a_bid_exactly_equal_to_an_ask_trades_at_that_price():
    # Asks (1, 5), (2, 10) against a bid (2, 8): D(2) = 8 and S(2) = 15, Q* = 8.  The ask at 1
    # sells 5, the ask at 2 sells the other 3 of its 10 (partial, pins 2); the bid at 2 is
    # filled and is the lowest accepted bid, so high = min(2, 2) = 2.
    r = _clear([(1, 5), (2, 10)], [(2, 8)])
    _assert_clearing(r, price=2, volume=8, sold=[5, 3], bought=[8], low=2, high=2)
    # And a lone bid equal to a lone ask: price 2 for the smaller volume.
    r = _clear([(2, 10)], [(2, 4)])
    _assert_clearing(r, price=2, volume=4, sold=[4], bought=[4], low=2, high=2)


def test_all_bids_above_all_asks_supply_binds_and_the_marginal_bid_sets_the_price():
    # Asks (1, 5), (2, 5): S = 10 at 2.  Bids (8, 20), (6, 10): D = 20 at 8, 30 at 6.  Q* = 10,
    # all supply sells (no ask unfilled: high has only the bid term).  The best bid, at 8, takes
    # all 10 of its 20 (partial) and the bid at 6 nothing, so low = max(2, 8) = 8 = high.
    r = _clear([(1, 5), (2, 5)], [(8, 20), (6, 10)])
    _assert_clearing(r, price=8, volume=10, sold=[5, 5], bought=[10, 0], low=8, high=8)
    assert r.unsold == 0.0 and r.unmet == pytest.approx(20)


def test_a_vertical_stretch_bounded_by_traded_orders():
    # Asks (1, 5), (2, 5), (5, 5); bids (7, 4), (4, 6), (1.5, 3).  S = 5, 10, 15 at 1, 2, 5;
    # D = 4, 10, 13 at 7, 4, 1.5.  Q* = 10 (at 2 and at 4), filled exactly on both sides: the
    # highest traded ask is 2 (the unfilled bid at 1.5 is lower), the lowest traded bid is 4
    # (the unfilled ask at 5 is higher): [2, 4], price 3.
    r = _clear([(1, 5), (2, 5), (5, 5)], [(7, 4), (4, 6), (1.5, 3)])
    _assert_clearing(r, price=3, volume=10, sold=[5, 5, 0], bought=[4, 6, 0], low=2, high=4)


def test_a_vertical_stretch_bounded_by_untraded_orders():
    # Asks (1, 10), (3, 5); bids (4, 10), (2, 5).  Q* = 10: the ask at 1 meets the bid at 4.
    # A price below 2 would make the unfilled bid at 2 want to buy, one above 3 the unfilled
    # ask at 3 want to sell: low = max(1, 2) = 2, high = min(4, 3) = 3, price 2.5.
    r = _clear([(1, 10), (3, 5)], [(4, 10), (2, 5)])
    _assert_clearing(r, price=2.5, volume=10, sold=[10, 0], bought=[10, 0], low=2, high=3)


def test_zero_volume_orders_neither_trade_nor_set_the_price():
    # Case 3 plus empty orders that, were they real, would bound the stretch [1, 3] more
    # tightly (an ask at 2.5, a bid at 1.5) or trade first (an ask at 0.5, a bid at 10).
    r = _clear([(1, 10), (0.5, 0), (2.5, 0)], [(3, 10), (10, 0), (1.5, 0)])
    _assert_clearing(r, price=2, volume=10, sold=[10, 0, 0], bought=[10, 0, 0], low=1, high=3)
    # Crossing orders with nothing to trade: no trade.
    r = _clear([(1, 0)], [(3, 5)])
    assert math.isnan(r.price) and r.volume == 0.0 and r.demand == 5.0


def test_empty_markets():
    r = compute.clear([], [], [], [])
    assert math.isnan(r.price) and r.volume == 0.0 and r.sold.shape == r.bought.shape == (0,)
    r = compute.clear([1.0, 2.0], [3.0, 4.0], [], [])
    assert math.isnan(r.price) and r.volume == 0.0 and r.supply == 7.0 and r.unsold == 7.0
    np.testing.assert_array_equal(r.sold, [0.0, 0.0])
    r = compute.clear([], [], [5.0], [2.0])
    assert math.isnan(r.price) and r.demand == 2.0 and r.unmet == 2.0


def test_lists_and_integers_are_accepted():
    r = compute.clear([1], [10], [3], [10])
    assert r.price == 2.0 and isinstance(r.price, float) and r.sold.dtype == float


# --- Validation --------------------------------------------------------------------------------


GOOD = {"ask_price": [1.0, 2.0], "ask_volume": [1.0, 1.0], "bid_price": [3.0],
        "bid_volume": [1.0]}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ask_volume", [1.0], "ask_price has shape (2,) but ask_volume has shape (1,)"),
    ("bid_price", [3.0, 4.0], "bid_price has shape (2,) but bid_volume has shape (1,)"),
    ("ask_price", [[1.0, 2.0]], "ask_price must be one-dimensional, got shape (1, 2)"),
    ("bid_price", 3.0, "bid_price must be one-dimensional, got shape ()"),
    ("ask_price", [1.0, float("nan")], "ask_price[1] = nan: prices must be finite"),
    ("bid_price", [float("inf")], "bid_price[0] = inf: prices must be finite"),
    ("ask_price", [-float("inf"), 1.0], "ask_price[0] = -inf: prices must be finite"),
    ("ask_volume", [1.0, -2.0], "ask_volume[1] = -2.0: volumes must be finite and >= 0"),
    ("bid_volume", [float("nan")], "bid_volume[0] = nan: volumes must be finite and >= 0"),
    ("ask_volume", [float("inf"), 1.0], "ask_volume[0] = inf: volumes must be finite and >= 0"),
])
def test_bad_inputs_raise_naming_the_argument_and_value(name, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        compute.clear(**{**GOOD, name: value})


# --- Property tests ----------------------------------------------------------------------------

#: Prices on a small grid (many ties) or anywhere in a range.
prices = st.one_of(st.integers(-2, 6).map(float), st.floats(-1e3, 1e3, **finite))
#: Volumes: zero, multiples of 1/64 (sums exact) or floats.  Their ratios stay far from the
#: ~1e16 at which an order can be lost in a running total (see the module doc).
volumes = st.one_of(st.just(0.0), st.integers(1, 2**20).map(lambda k: k / 64),
                    st.floats(1e-3, 1e4, **finite))


@st.composite
def books(draw, price=prices, volume=volumes, size=8):
    asks = draw(st.lists(st.tuples(price, volume), max_size=size))
    bids = draw(st.lists(st.tuples(price, volume), max_size=size))
    a = np.array(asks, dtype=float).reshape(-1, 2)
    b = np.array(bids, dtype=float).reshape(-1, 2)
    return a[:, 0], a[:, 1], b[:, 0], b[:, 1]


def _tol(r):
    return 1e-12 * (r.supply + r.demand)


@given(books())
def test_volumes_balance_and_respect_the_orders(book):
    ap, av, bp, bv = book
    r = compute.clear(ap, av, bp, bv)
    assert r.sold.shape == av.shape and r.bought.shape == bv.shape
    assert r.supply == pytest.approx(av.sum()) and r.demand == pytest.approx(bv.sum())
    assert 0.0 <= r.volume <= min(r.supply, r.demand)
    assert abs(r.sold.sum() - r.volume) <= _tol(r)
    assert abs(r.bought.sum() - r.volume) <= _tol(r)
    assert np.all((r.sold >= 0) & (r.sold <= av))
    assert np.all((r.bought >= 0) & (r.bought <= bv))
    assert r.unmet == pytest.approx(r.demand - r.volume, abs=_tol(r))
    assert r.unsold == pytest.approx(r.supply - r.volume, abs=_tol(r))
    if r.volume == 0.0:
        assert math.isnan(r.price) and not r.sold.any() and not r.bought.any()
    else:
        assert r.low <= r.price <= r.high and np.isfinite(r.price)
        assert r.price == pytest.approx(0.5 * (r.low + r.high))


@given(books())
def test_the_price_supports_the_allocation(book):
    """Who trades is priced at or better than the price, who is left unfilled at or worse;
    so whoever is strictly better than the price is filled in full."""
    ap, av, bp, bv = book
    r = compute.clear(ap, av, bp, bv)
    if r.volume == 0.0:
        return
    assert np.all(ap[r.sold > 0] <= r.price)
    assert np.all(bp[r.bought > 0] >= r.price)
    unfilled_ask, unfilled_bid = r.sold < av, r.bought < bv
    assert np.all(ap[unfilled_ask] >= r.price)
    assert np.all(bp[unfilled_bid] <= r.price)
    np.testing.assert_array_equal(r.sold[ap < r.price], av[ap < r.price])
    np.testing.assert_array_equal(r.bought[bp > r.price], bv[bp > r.price])


@given(books())
def test_no_crossing_pair_is_left_unfilled(book):
    """Efficiency: an unfilled ask priced at or below an unfilled bid could still trade."""
    ap, av, bp, bv = book
    r = compute.clear(ap, av, bp, bv)
    asks_left = ap[r.sold < av]  # zero-volume orders are never "unfilled"
    bids_left = bp[r.bought < bv]
    if asks_left.size and bids_left.size:
        assert asks_left.min() > bids_left.max()


@given(books(price=st.integers(0, 3).map(float)))
def test_orders_at_one_price_are_filled_in_the_same_proportion(book):
    ap, av, bp, bv = book
    r = compute.clear(ap, av, bp, bv)
    for price, vol, got in ((ap, av, r.sold), (bp, bv, r.bought)):
        live = vol > 0
        for level in np.unique(price[live]):
            share = got[live & (price == level)] / vol[live & (price == level)]
            np.testing.assert_allclose(share, share[0], rtol=1e-12)


def test_the_volume_does_not_depend_on_the_order_of_tied_asks_even_in_its_last_bit():
    # (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1 in floating point: the sort breaks ties by volume,
    # so the running total is always summed in the same order.
    book = [(1.0, 0.1), (1.0, 0.2), (1.0, 0.3)]
    results = {_clear([book[i] for i in order], [(5, 10)]).volume
               for order in ((0, 1, 2), (2, 1, 0), (1, 0, 2), (2, 0, 1))}
    assert len(results) == 1


@given(st.one_of(books(), books(price=st.integers(0, 2).map(float),
                                volume=st.floats(1e-3, 1e4, **finite))),
       st.randoms(use_true_random=False))
def test_permuting_the_orders_permutes_the_allocation(book, rnd):
    ap, av, bp, bv = book
    ia, ib = list(range(ap.size)), list(range(bp.size))
    rnd.shuffle(ia)
    rnd.shuffle(ib)
    r = compute.clear(ap, av, bp, bv)
    s = compute.clear(ap[ia], av[ia], bp[ib], bv[ib])
    assert s.volume == r.volume
    for x, y in ((s.price, r.price), (s.low, r.low), (s.high, r.high)):
        assert x == y or (math.isnan(x) and math.isnan(y))
    np.testing.assert_array_equal(s.sold, r.sold[ia])
    np.testing.assert_array_equal(s.bought, r.bought[ib])


# --- An independent oracle on whole units ------------------------------------------------------


def _units_traded(ap, av, bp, bv):
    """Trade unit by unit: the cheapest remaining unit offered against the dearest remaining
    unit bid for, while the offer is at or below the bid."""
    offered = sorted(np.repeat(ap, av.astype(int)))
    wanted = sorted(np.repeat(bp, bv.astype(int)), reverse=True)
    return sum(1 for a, b in zip(offered, wanted, strict=False) if a <= b)


def _curves_meet(p, q, ap, av, bp, bv):
    """Both step curves pass through volume ``q`` at price ``p``: ``S(p-) <= q <= S(p)`` and
    ``D(p+) <= q <= D(p)``, summed order by order."""
    s_below = sum(v for a, v in zip(ap, av, strict=True) if a < p)
    s_at = sum(v for a, v in zip(ap, av, strict=True) if a <= p)
    d_above = sum(v for b, v in zip(bp, bv, strict=True) if b > p)
    d_at = sum(v for b, v in zip(bp, bv, strict=True) if b >= p)
    return s_below <= q <= s_at and d_above <= q <= d_at


@given(books(price=st.integers(0, 6).map(float), volume=st.integers(0, 6).map(float), size=6))
def test_whole_units_match_a_unit_by_unit_oracle(book):
    """With whole prices and volumes: the volume is what trading unit by unit achieves, and the
    supporting interval is exactly the set of prices where the curves meet at that volume
    (checked on a grid of quarter prices), the price its middle."""
    ap, av, bp, bv = book
    r = compute.clear(ap, av, bp, bv)
    q = _units_traded(ap, av, bp, bv)
    assert r.volume == q
    if q == 0:
        assert math.isnan(r.price)
        return
    grid = np.arange(-1.0, 7.0 + 1e-9, 0.25)
    meet = np.array([_curves_meet(p, q, ap, av, bp, bv) for p in grid])
    np.testing.assert_array_equal(meet, (grid >= r.low) & (grid <= r.high))
    assert r.price == (r.low + r.high) / 2
