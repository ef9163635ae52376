"""Losses and regularisers of the adversarial families against hand computations, their optima,
the closed-form f-divergences of two Gaussians, and the penalties' closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from genbench.models import losses

REAL = [0.5, -1.0, 2.0]
FAKE = [-0.3, 1.2]


def f64(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def mean(values) -> float:
    return sum(values) / len(values)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


# ----------------------------------------------------------------------- hand computations
HAND_D = {
    ("nonsaturating", None): -mean([math.log(sigmoid(v)) for v in REAL])
    - mean([math.log(1 - sigmoid(v)) for v in FAKE]),  # eq. 13.31
    ("lsgan", None): 0.5 * mean([(v - 1) ** 2 for v in REAL]) + 0.5 * mean([v**2 for v in FAKE]),
    ("hinge", None): mean([max(0.0, 1 - v) for v in REAL]) + mean([max(0.0, 1 + v) for v in FAKE]),
    ("fgan", "kl"): -(mean(REAL) - mean([math.exp(v - 1) for v in FAKE])),
    ("fgan", "reverse_kl"): -(
        mean([-math.exp(-v) for v in REAL]) - mean([-1 - math.log(math.exp(-v)) for v in FAKE])
    ),
    ("fgan", "js"): -(
        mean([math.log(2) - softplus(-v) for v in REAL])
        - mean([-math.log(2 - math.exp(math.log(2) - softplus(-v))) for v in FAKE])
    ),
    ("fgan", "pearson"): -(mean(REAL) - mean([v * v / 4 + v for v in FAKE])),
    ("fgan", "hellinger"): -(
        mean([1 - math.exp(-v) for v in REAL]) - mean([(1 - math.exp(-v)) / math.exp(-v) for v in FAKE])
    ),
}
HAND_G = {
    ("nonsaturating", None): -mean([math.log(sigmoid(v)) for v in FAKE]),  # eq. 13.33
    ("minimax", None): mean([math.log(1 - sigmoid(v)) for v in FAKE]),  # eq. 13.34
    ("lsgan", None): 0.5 * mean([(v - 1) ** 2 for v in FAKE]),
    ("hinge", None): -mean(FAKE),
    ("fgan", "kl"): -mean(FAKE),
    ("fgan", "reverse_kl"): mean([math.exp(-v) for v in FAKE]),
    ("fgan", "js"): -mean([math.log(2) - softplus(-v) for v in FAKE]),
    ("fgan", "pearson"): -mean(FAKE),
    ("fgan", "hellinger"): -mean([1 - math.exp(-v) for v in FAKE]),
}


@pytest.mark.parametrize(("loss", "divergence"), list(HAND_D), ids=lambda x: str(x))
def test_discriminator_losses_equal_hand_computations(loss, divergence):
    got = losses.discriminator_loss(f64(REAL), f64(FAKE), loss, divergence)
    assert got.item() == pytest.approx(HAND_D[loss, divergence], rel=1e-12)


def test_minimax_and_nonsaturating_share_the_discriminator_loss():
    a = losses.discriminator_loss(f64(REAL), f64(FAKE), "minimax")
    assert a.item() == losses.discriminator_loss(f64(REAL), f64(FAKE), "nonsaturating").item()


@pytest.mark.parametrize(("loss", "divergence"), list(HAND_G), ids=lambda x: str(x))
def test_generator_losses_equal_hand_computations(loss, divergence):
    got = losses.generator_loss(f64(FAKE), loss, divergence)
    assert got.item() == pytest.approx(HAND_G[loss, divergence], rel=1e-12)


@pytest.mark.parametrize("divergence", losses.DIVERGENCES)
def test_stable_conjugate_of_activation_equals_the_composition(divergence):
    v = f64([-3.0, -0.5, 0.0, 0.7, 2.5])
    direct = losses.conjugate(losses.activation(v, divergence), divergence)
    assert torch.allclose(losses.conjugate_of_activation(v, divergence), direct, rtol=1e-12, atol=1e-12)


def test_unknown_loss_and_divergence_fail():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.generator_loss(f64(FAKE), "wasserstein")
    with pytest.raises(ValueError, match="unknown divergence"):
        losses.discriminator_loss(f64(REAL), f64(FAKE), "fgan", "tv")


# -------------------------------------------------------------------------------------- optima
# p and q on two points, as exact expectations: 3 of 4 real rows sit at point 0, 1 of 4 fake rows.
P, Q = np.array([0.75, 0.25]), np.array([0.25, 0.75])
REAL_POINTS, FAKE_POINTS = [0, 0, 0, 1], [0, 1, 1, 1]


def loss_of_table(loss: str, table: torch.Tensor) -> torch.Tensor:
    return losses.discriminator_loss(table[REAL_POINTS], table[FAKE_POINTS], loss)


def test_lsgan_discriminator_optimum_is_p_over_p_plus_q():
    """Mao et al. 2017, prop. 1 with a=0, b=1: D*(x) = p/(p+q); the loss there is ½Σ pq/(p+q)."""
    table = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([table], max_iter=100, tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        value = loss_of_table("lsgan", table)
        value.backward()
        return value

    opt.step(closure)
    assert np.allclose(table.detach().numpy(), P / (P + Q), atol=1e-8)
    assert loss_of_table("lsgan", table).item() == pytest.approx(0.5 * (P * Q / (P + Q)).sum(), abs=1e-12)
    # and G's loss at the equilibrium p = q, where D* = 1/2: ½(½ - 1)² = 1/8
    assert losses.generator_loss(f64([0.5, 0.5]), "lsgan").item() == 0.125


def test_hinge_discriminator_optimum_is_sign_of_p_minus_q():
    """D*(x) = sign(p - q) on [-1, 1]; the loss there is 2 Σ min(p, q) = 2(1 - TV(p, q))."""
    best = loss_of_table("hinge", f64(np.sign(P - Q))).item()
    assert best == pytest.approx(2 * np.minimum(P, Q).sum(), abs=1e-12)
    others = torch.rand(2000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 6 - 3
    assert min(loss_of_table("hinge", t).item() for t in others) >= best - 1e-12


# --------------------------------------------------- f-GAN: the variational bound at its optimum
MU_P, SD_P, MU_Q, SD_Q = 0.0, 1.0, 0.5, 1.2


def kl_gauss(m1, s1, m2, s2) -> float:
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def by_quadrature(f) -> float:
    p, q = stats.norm(MU_P, SD_P), stats.norm(MU_Q, SD_Q)
    return integrate.quad(lambda x: q.pdf(x) * f(p.pdf(x) / q.pdf(x)), -30, 30, epsabs=1e-12)[0]


def js_f(u: float) -> float:
    return u * math.log(u) - (u + 1) * math.log((u + 1) / 2)


BC = math.sqrt(2 * SD_P * SD_Q / (SD_P**2 + SD_Q**2)) * math.exp(
    -((MU_P - MU_Q) ** 2) / (4 * (SD_P**2 + SD_Q**2))
)
CLOSED_FORM = {
    "kl": kl_gauss(MU_P, SD_P, MU_Q, SD_Q),  # KL(p‖q), eq. 13.48
    "reverse_kl": kl_gauss(MU_Q, SD_Q, MU_P, SD_P),  # KL(q‖p), eq. 13.49
    "hellinger": 2 - 2 * BC,  # ∫(√p - √q)², Bhattacharyya coefficient of two Gaussians
    "pearson": by_quadrature(lambda u: (u - 1) ** 2),  # ∫(p - q)²/q
    "js": by_quadrature(js_f),  # table 2's f: KL(p‖m) + KL(q‖m) = 2 JSD, m = (p+q)/2
}
F_PRIME = {  # T*(x) = f'(p(x)/q(x))
    "kl": lambda u: 1 + np.log(u),
    "reverse_kl": lambda u: -1 / u,
    "hellinger": lambda u: 1 - 1 / np.sqrt(u),
    "pearson": lambda u: 2 * (u - 1),
    "js": lambda u: np.log(2 * u / (1 + u)),
}
INVERSE_ACTIVATION = {  # V with g_f(V) = T
    "kl": lambda t: t,
    "reverse_kl": lambda t: -np.log(-t),
    "hellinger": lambda t: -np.log(1 - t),
    "pearson": lambda t: t,
    "js": lambda t: -np.log(2 * np.exp(-t) - 1),
}


def test_closed_forms_agree_with_quadrature():
    assert CLOSED_FORM["kl"] == pytest.approx(by_quadrature(lambda u: u * math.log(u)), abs=1e-9)
    assert CLOSED_FORM["reverse_kl"] == pytest.approx(by_quadrature(lambda u: -math.log(u)), abs=1e-9)
    assert CLOSED_FORM["hellinger"] == pytest.approx(
        by_quadrature(lambda u: (math.sqrt(u) - 1) ** 2), abs=1e-9
    )


@pytest.mark.parametrize("divergence", losses.DIVERGENCES)
def test_fgan_bound_at_the_optimal_critic_equals_the_divergence(divergence):
    """E_p[T*] - E_q[f*(T*)] = D_f(p‖q) for T* = f'(p/q) (Nowozin et al. 2016, eq. 5), and the
    discriminator's loss at V* = g_f⁻¹(T*) is minus that, within 4 Monte-Carlo standard errors."""
    rng = np.random.default_rng(1)
    n = 200_000
    x_p, x_q = rng.normal(MU_P, SD_P, n), rng.normal(MU_Q, SD_Q, n)
    ratio = lambda x: stats.norm.pdf(x, MU_P, SD_P) / stats.norm.pdf(x, MU_Q, SD_Q)  # noqa: E731
    t_p, t_q = F_PRIME[divergence](ratio(x_p)), F_PRIME[divergence](ratio(x_q))
    conj_q = losses.conjugate(f64(t_q), divergence).numpy()
    bound = t_p.mean() - conj_q.mean()
    se = math.sqrt(t_p.var() / n + conj_q.var() / n)
    assert abs(bound - CLOSED_FORM[divergence]) < 4 * se
    v_p, v_q = INVERSE_ACTIVATION[divergence](t_p), INVERSE_ACTIVATION[divergence](t_q)
    loss = losses.discriminator_loss(f64(v_p), f64(v_q), "fgan", divergence).item()
    assert loss == pytest.approx(-bound, rel=1e-9, abs=1e-9)


def test_forward_kl_and_reverse_kl_differ_here():
    """The two KLs of these Gaussians differ by far more than the tests' Monte-Carlo error."""
    assert CLOSED_FORM["reverse_kl"] - CLOSED_FORM["kl"] > 0.04


# --------------------------------------------------------------------------------- penalties
def test_gradient_penalty_of_a_linear_critic_is_lambda_norm_minus_one_squared():
    """f(x) = w·x has ∇f = w everywhere: the penalty is λ(‖w‖ - 1)² exactly, and its gradient in w
    is 2λ(‖w‖ - 1) w/‖w‖ (Gulrajani et al. 2017, eq. 3)."""
    critic = torch.nn.Linear(3, 1, bias=True).double()
    with torch.no_grad():
        critic.weight.copy_(f64([[0.3, -1.2, 2.0]]))
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, 3, generator=gen).double(), torch.randn(16, 3, generator=gen).double()
    eps = torch.rand(16, 1, generator=gen).double()
    penalty, norm = losses.gradient_penalty(critic, real, fake, 10.0, eps)
    w = critic.weight.detach()[0]
    assert penalty.item() == pytest.approx(10.0 * (w.norm().item() - 1) ** 2, rel=1e-14)
    assert norm.item() == pytest.approx(w.norm().item(), rel=1e-14)
    penalty.backward()
    expected = 2 * 10.0 * (w.norm() - 1) * w / w.norm()
    assert torch.allclose(critic.weight.grad[0], expected, rtol=1e-12)


class Quadratic(torch.nn.Module):
    """D(x) = ½ xᵀAx + bᵀx, whose gradient is Ax + b (A symmetric)."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Parameter(a), torch.nn.Parameter(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((x @ self.a) * x).sum(1, keepdim=True) + x @ self.b[:, None]


def test_r1_on_a_quadratic_discriminator_equals_its_closed_form():
    """(γ/2) E‖∇D(x)‖² = (γ/2) mean ‖Ax + b‖² (Mescheder et al. 2018, eq. 9)."""
    a = f64([[2.0, 0.5], [0.5, -1.0]])
    b = f64([0.3, -0.7])
    disc = Quadratic(a.clone(), b.clone())
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(3)).double().requires_grad_(True)
    r1 = losses.r1_penalty(disc(x), x, gamma=4.0)
    expected = 0.5 * 4.0 * ((x.detach() @ a + b) ** 2).sum(1).mean()
    assert r1.item() == pytest.approx(expected.item(), rel=1e-13)
    r1.backward()  # trainable: d/db = γ mean(Ax + b)
    assert torch.allclose(disc.b.grad, 4.0 * (x.detach() @ a + b).mean(0), rtol=1e-12)


@pytest.mark.parametrize("divergence", losses.DIVERGENCES)
def test_fgan_saddle_generator_loss_is_the_q_term_of_the_bound(divergence):
    """The saddle update's G minimises the bound F that D maximises (D's loss is -F), less F's
    term that does not depend on G, E_p[g_f(V)] (Nowozin et al. 2016, eq. 6): -E_q[f*(g_f(V))]."""
    gen = torch.Generator().manual_seed(3)
    real, fake = torch.randn(64, generator=gen).double(), torch.randn(64, generator=gen).double()
    saddle = losses.generator_loss(fake, "fgan", divergence, "saddle").item()
    d_loss = losses.discriminator_loss(real, fake, "fgan", divergence).item()
    real_term = losses.activation(real, divergence).mean().item()
    assert saddle == pytest.approx(-d_loss - real_term, rel=1e-12, abs=1e-12)
    alternative = losses.generator_loss(fake, "fgan", divergence).item()
    assert alternative == pytest.approx(-losses.activation(fake, divergence).mean().item(), rel=1e-12)
    assert saddle != pytest.approx(alternative)


def test_fgan_saddle_by_hand_for_the_two_kls():
    """KL: f*(t) = exp(t - 1), g_f(v) = v; reverse KL: f*(g_f(v)) = v - 1 (table 2)."""
    v = f64([0.0, 1.0, -2.0])
    assert losses.generator_loss(v, "fgan", "kl", "saddle").item() == pytest.approx(
        -(math.exp(-1) + 1.0 + math.exp(-3)) / 3, rel=1e-12
    )
    assert losses.generator_loss(v, "fgan", "reverse_kl", "saddle").item() == pytest.approx(
        -((-1.0) + 0.0 + (-3.0)) / 3, rel=1e-12
    )


def test_g_update_applies_to_fgan_only():
    from genbench.models.gan import GANHParams

    with pytest.raises(ValueError, match="g_update applies to loss: fgan only"):
        GANHParams(g_update="saddle")
    assert GANHParams(loss="fgan", divergence="kl", g_update="saddle").g_update == "saddle"
