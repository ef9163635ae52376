"""CMMD against a hand-written double loop, the Vendi score's known values and the vendi-score
package, authenticity on copies, a hand-worked example and its large-sample limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import betainc
from vendi_score import vendi

from genbench.metrics import embedding_scores
from genbench.metrics.embedding_scores import authenticity, cmmd, vendi_score

X = [[1.0, 2.0, 2.0], [0.0, 3.0, 4.0], [-1.0, 0.0, 0.0], [2.0, -1.0, 2.0]]
Y = [[1.0, 0.0, 0.0], [0.0, 0.6, 0.8], [3.0, 4.0, 0.0]]


def _loop_cmmd(x: list, y: list, sigma: float) -> float:
    """1000 (mean k(x, x') + mean k(y, y') - 2 mean k(x, y)), all pairs, on unit rows."""
    unit = [[[v / math.sqrt(sum(c * c for c in row)) for v in row] for row in s] for s in (x, y)]

    def mean_k(a: list, b: list) -> float:
        total = 0.0
        for p in a:
            for q in b:
                total += math.exp(-sum((u - v) ** 2 for u, v in zip(p, q, strict=True)) / (2 * sigma**2))
        return total / (len(a) * len(b))

    ux, uy = unit
    return 1000 * (mean_k(ux, ux) + mean_k(uy, uy) - 2 * mean_k(ux, uy))


@pytest.mark.parametrize("sigma", [10.0, 0.7])
def test_cmmd_matches_the_double_loop(sigma):
    assert cmmd(X, Y, sigma=sigma) == pytest.approx(_loop_cmmd(X, Y, sigma), rel=1e-9)
    assert cmmd(torch.tensor(X), np.array(Y), sigma=sigma) == pytest.approx(_loop_cmmd(X, Y, sigma), rel=1e-9)


def test_cmmd_of_a_set_with_itself_is_zero_and_blocks_change_nothing(monkeypatch):
    x = np.random.default_rng(0).normal(size=(300, 16))
    y = np.random.default_rng(1).normal(size=(200, 16)) + 0.3
    assert abs(cmmd(x, x)) < 1e-12  # the biased estimator: exactly 0 up to rounding
    whole = cmmd(x, y)
    assert whole > 0 and whole == pytest.approx(cmmd(y, x), rel=1e-12)
    monkeypatch.setattr(embedding_scores, "BLOCK_ELEMENTS", 7 * 300)  # 7-row blocks
    assert cmmd(x, y) == pytest.approx(whole, rel=1e-12)


def test_cmmd_normalises_rows_unless_told_not_to():
    x, y = np.array(X), np.array(Y)
    assert cmmd(3.0 * x, y) == pytest.approx(cmmd(x, y), rel=1e-12)
    assert cmmd(3.0 * x, y, normalize=False) != pytest.approx(cmmd(x, y, normalize=False), rel=1e-3)


def test_vendi_of_identical_and_of_orthogonal_points():
    assert vendi_score(np.tile([[0.3, -1.0, 2.0]], (7, 1))) == pytest.approx(1.0, abs=1e-9)
    assert vendi_score(3.0 * np.eye(5)) == pytest.approx(5.0, rel=1e-12)
    two_groups = np.vstack([np.tile([1.0, 0.0, 0.0], (4, 1)), np.tile([0.0, 2.0, 0.0], (4, 1))])
    assert vendi_score(two_groups) == pytest.approx(2.0, rel=1e-12)  # two equal orthogonal groups


@pytest.mark.parametrize(("n", "d"), [(5, 8), (50, 8)])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the package's scipy.sparse.csr
def test_vendi_agrees_with_the_vendi_score_package(n, d):
    x = np.random.default_rng(n).normal(size=(n, d))
    assert vendi_score(x) == pytest.approx(vendi.score_X(x), rel=1e-10)
    assert vendi_score(torch.from_numpy(x)) == pytest.approx(vendi.score_dual(x), rel=1e-10)


def test_authenticity_of_copies_is_zero():
    train = np.random.default_rng(0).normal(size=(500, 10))
    assert authenticity(train, train[::3]) == 0.0
    assert authenticity(train, train[:50] + 1e-6) == 0.0  # near copies too


def test_authenticity_hand_example():
    """Training points 0, 1, 3: nearest-neighbour distances 1, 1, 2. Generated -2 (nearest 0,
    2 > 1: authentic), 0.4 (nearest 0, 0.4 <= 1: copy), 5 (nearest 3, 2 <= 2: copy, ties count as
    copies), 5.5 (nearest 3, 2.5 > 2: authentic): 2 of 4."""
    train = [[0.0], [1.0], [3.0]]
    assert authenticity(train, [[-2.0], [0.4], [5.0], [5.5]]) == 0.5
    assert authenticity(np.array(train) @ [[0.6, 0.8]], [[-1.2, -1.6]]) == 1.0  # any dimension


@pytest.mark.parametrize("d", [1, 2])
def test_authenticity_of_fresh_samples_is_at_its_large_sample_limit(d):
    """A fresh sample g is a copy iff g and its nearest training point are each other's nearest
    neighbours among the n + 1 points. For n -> infinity (locally Poisson) a point has that with
    probability V(B) / V(B u B') (two unit balls at unit distance; Schilling 1986, Henze 1987), so
    authenticity -> 1 - 1 / (2 - I_{3/4}((d + 1) / 2, 1 / 2)): 1/3 for d = 1, 0.3785 for d = 2.
    n = m = 4000 Gaussian points: sd 0.008 and bias < 0.002 over 10 seeds; bound 0.03."""
    limit = 1 - 1 / (2 - betainc((d + 1) / 2, 0.5, 0.75))
    train = np.random.default_rng(d).normal(size=(4000, d))
    fresh = np.random.default_rng(100 + d).normal(size=(4000, d))
    assert authenticity(train, fresh) == pytest.approx(limit, abs=0.03)


def test_authenticity_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="authenticity needs"):
        authenticity(np.zeros((5, 3)), np.zeros((5, 4)))
