"""FGSM against the hand-written gradient of a linear model."""

import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit.analysis.fgsm import fgsm_predictions, gradient_sign, perturb


def test_fgsm_step_on_a_linear_model_matches_the_hand_written_gradient() -> None:
    """For logits W x + b the cross-entropy gradient wrt x is W^T (softmax - onehot)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    x = torch.rand(5, 2, 3, 3) * 255
    y = torch.tensor([0, 1, 2, 3, 0])
    normalize = lambda images: (images / 255 - 0.5) / 0.25  # noqa: E731
    weight = model[1].weight.detach()
    logits = model(normalize(x)).detach()
    grad_pixels = (F.softmax(logits, 1) - F.one_hot(y, 4).float()) @ weight  # per normalised input
    expected = grad_pixels.sign().view_as(x)  # the chain to stored values multiplies by a positive constant
    assert torch.equal(gradient_sign(model, normalize, x, y), expected)

    lo, hi = torch.zeros(2), torch.ones(2)
    adv = perturb(x, expected, 0.1, 255.0, lo, hi)
    assert torch.allclose(adv, (x + 25.5 * expected).clamp(0, 255))
    assert torch.equal(perturb(x, expected, 0.0, 255.0, lo, hi), x)

    preds = fgsm_predictions(model, normalize, [(x, y)], [0.0, 0.1], 255.0, lo, hi, torch.device("cpu"))
    assert torch.equal(preds[0.0], logits.argmax(1))
    assert torch.equal(preds[0.1], model(normalize(adv)).argmax(1))
