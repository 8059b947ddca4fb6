"""Each joint-embedding loss against an independent hand-written reference on a tiny batch (loops, no batching)."""

from __future__ import annotations

import math

import pytest
import torch

from pretext.joint_losses import barlow_twins, dino, info_nce, negative_cosine, nt_xent, vicreg


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)


def test_nt_xent_is_the_explicit_log_softmax_formula(pair) -> None:
    z1, z2 = pair
    z = torch.cat([z1, z2])
    n, t = len(z1), 0.3
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        others = sum(math.exp(cos(z[i], z[k]) / t) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(cos(z[i], z[partner]) / t) / others)
    assert float(nt_xent(z1, z2, t)) == pytest.approx(total / (2 * n), rel=1e-5)


def test_info_nce_with_a_queue_and_with_in_batch_negatives(pair) -> None:
    q, k = pair
    queue = torch.randn(7, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = 0.2
    with_queue = 0.0
    for i in range(len(q)):
        pos = math.exp(cos(q[i], k[i]) / t)
        with_queue += -math.log(pos / (pos + sum(math.exp(cos(q[i], queue[j]) / t) for j in range(len(queue)))))
    assert float(info_nce(q, k, t, queue)) == pytest.approx(with_queue / len(q), rel=1e-5)
    in_batch = 0.0
    for i in range(len(q)):
        in_batch += -math.log(math.exp(cos(q[i], k[i]) / t) / sum(math.exp(cos(q[i], k[j]) / t) for j in range(len(k))))
    assert float(info_nce(q, k, t)) == pytest.approx(in_batch / len(q), rel=1e-5)


def test_negative_cosine(pair) -> None:
    p, z = pair
    expected = sum(2 - 2 * cos(p[i], z[i]) for i in range(len(p))) / len(p)
    assert float(negative_cosine(p, z)) == pytest.approx(expected, rel=1e-5)


def test_barlow_twins_cross_correlation(pair) -> None:
    a, b = pair
    n, d, lam = a.shape[0], a.shape[1], 5e-3

    def standardise(x: torch.Tensor, j: int) -> list[float]:
        col = [float(x[i, j]) for i in range(n)]
        mean = sum(col) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in col) / n)
        return [(v - mean) / std for v in col]

    sa = [standardise(a, j) for j in range(d)]
    sb = [standardise(b, j) for j in range(d)]
    c = [[sum(sa[i][k] * sb[j][k] for k in range(n)) / n for j in range(d)] for i in range(d)]
    expected = sum((1 - c[i][i]) ** 2 for i in range(d)) + lam * sum(
        c[i][j] ** 2 for i in range(d) for j in range(d) if i != j
    )
    assert float(barlow_twins(a, b, lam)) == pytest.approx(expected, rel=1e-5)


def test_vicreg_terms(pair) -> None:
    a, b = pair
    n, d = a.shape
    invariance = sum(float((a[i, j] - b[i, j]) ** 2) for i in range(n) for j in range(d)) / (n * d)

    def variance(x: torch.Tensor) -> float:
        out = 0.0
        for j in range(d):
            col = [float(x[i, j]) for i in range(n)]
            mean = sum(col) / n
            var = sum((v - mean) ** 2 for v in col) / (n - 1)
            out += max(0.0, 1 - math.sqrt(var + 1e-4))
        return out / d

    def covariance(x: torch.Tensor) -> float:
        means = [sum(float(x[i, j]) for i in range(n)) / n for j in range(d)]
        c = [
            [
                sum((float(x[k, i]) - means[i]) * (float(x[k, j]) - means[j]) for k in range(n)) / (n - 1)
                for j in range(d)
            ]
            for i in range(d)
        ]
        return sum(c[i][j] ** 2 for i in range(d) for j in range(d) if i != j) / d

    expected = 25 * invariance + 25 * (variance(a) + variance(b)) / 2 + 1 * (covariance(a) + covariance(b))
    loss, terms = vicreg(a, b, 25.0, 25.0, 1.0)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(terms["invariance"]) == pytest.approx(invariance, rel=1e-5)


def test_dino_cross_entropy_over_view_pairs() -> None:
    g = torch.Generator().manual_seed(2)
    student = [torch.randn(3, 6, generator=g, dtype=torch.float64) for _ in range(4)]  # 2 global + 2 local
    teacher = [torch.randn(3, 6, generator=g, dtype=torch.float64) for _ in range(2)]
    center = torch.randn(1, 6, generator=g, dtype=torch.float64)
    ts, tt = 0.1, 0.04

    def softmax(row: list[float], t: float) -> list[float]:
        e = [math.exp(v / t) for v in row]
        return [v / sum(e) for v in e]

    total, terms = 0.0, 0
    for i, t_view in enumerate(teacher):
        for j, s_view in enumerate(student):
            if i == j:
                continue
            for r in range(3):
                target = softmax([float(t_view[r, c] - center[0, c]) for c in range(6)], tt)
                p = softmax([float(s_view[r, c]) for c in range(6)], ts)
                total += -sum(target[c] * math.log(p[c]) for c in range(6)) / 3
            terms += 1
    assert float(dino(student, teacher, center, ts, tt)) == pytest.approx(total / terms, rel=1e-5)
