"""The losses of the joint-embedding learners, each with its paper and its tensor shapes.

Every loss takes the embeddings of the whole global batch (gathered from every rank with ``ctx.all_gather``), so
it is the same number on every rank and in one process with that batch. Each is checked in
``tests/pretext/test_joint_losses.py`` against a hand-written reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross-entropy (Chen et al. 2020) over the 2N embeddings.

    z1, z2: (N, D), row i of each a view of image i. Each of the 2N embeddings classifies its partner among the
    other 2N - 1 by cosine similarity / temperature; the mean over the 2N."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def info_nce(
    q: torch.Tensor, k: torch.Tensor, temperature: float, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """MoCo's InfoNCE (He et al. 2020; Chen et al. 2020, v2; Chen, Xie & He 2021, v3).

    q: (N, D) queries, k: (N, D) their keys (no gradient needed). With ``negatives`` (K, D) (v2's queue) each query
    classifies its key against the queue; without (v3) against the other keys of the batch. Cosine / temperature."""
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.float(), dim=1)
    if negatives is None:
        logits = q @ k.T / temperature
        return F.cross_entropy(logits, torch.arange(len(q), device=q.device))
    positive = (q * k).sum(1, keepdim=True)
    negative = q @ F.normalize(negatives.float(), dim=1).T
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's regression loss (Grill et al. 2020): 2 - 2 cos(p, z), mean over the N rows; z is the target (no
    gradient)."""
    return (2 - 2 * F.cosine_similarity(p.float(), z.detach().float(), dim=1)).mean()


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, off_diagonal: float) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021): the cross-correlation of the batch-standardised embeddings (N, D) towards
    the identity; sum of (1 - c_ii)^2 plus ``off_diagonal`` x sum of c_ij^2 (i != j)."""
    n = z1.shape[0]
    a = (z1.float() - z1.float().mean(0)) / z1.float().std(0, unbiased=False).clamp_min(1e-6)
    b = (z2.float() - z2.float().mean(0)) / z2.float().std(0, unbiased=False).clamp_min(1e-6)
    c = a.T @ b / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + off_diagonal * off


def vicreg(
    z1: torch.Tensor, z2: torch.Tensor, invariance: float, variance: float, covariance: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """VICReg (Bardes, Ponce & LeCun 2022) of embeddings (N, D): ``invariance`` x mean squared distance, plus
    ``variance`` x the mean hinge of each dimension's std below 1 (per branch, eps 1e-4), plus ``covariance`` x the
    sum of squared off-diagonal covariances / D (per branch). Returns (loss, its three terms)."""
    a, b = z1.float(), z2.float()
    n, d = a.shape
    inv = F.mse_loss(a, b)

    def var(x: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - torch.sqrt(x.var(0) + 1e-4)).mean()

    def cov(x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(0)
        c = x.T @ x / (n - 1)
        return (c.pow(2).sum() - torch.diagonal(c).pow(2).sum()) / d

    v = (var(a) + var(b)) / 2
    cv = cov(a) + cov(b)
    loss = invariance * inv + variance * v + covariance * cv
    return loss, {"invariance": inv.detach(), "variance": v.detach(), "covariance": cv.detach()}


def dino(
    student: list[torch.Tensor], teacher: list[torch.Tensor], center: torch.Tensor, student_t: float, teacher_t: float
) -> torch.Tensor:
    """DINO's self-distillation loss (Caron et al. 2021). ``student``: logits (N, K) of every view (the global
    ones first); ``teacher``: logits of the global views; ``center`` (1, K). Each teacher view, centred and
    sharpened (softmax at ``teacher_t``), is the target of every student view but itself; the mean of the
    cross-entropies."""
    targets = [F.softmax((t.float() - center) / teacher_t, dim=1).detach() for t in teacher]
    logs = [F.log_softmax(s.float() / student_t, dim=1) for s in student]
    total, terms = 0.0, 0
    for i, target in enumerate(targets):
        for j, log_p in enumerate(logs):
            if i == j:
                continue
            total = total + (-(target * log_p).sum(1)).mean()
            terms += 1
    return total / terms
