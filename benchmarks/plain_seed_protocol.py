"""The seed experiment as a plain PyTorch script, the way the PyTorch MNIST example is written.

torchvision's MNIST dataset and DataLoader (per-sample ToTensor + Normalize), the example net, Adadelta lr 1.0,
batch 64. Pretext: one epoch of transpose prediction (half of each batch transposed). Probe: freeze every
parameter not named fc*, fresh 10-way fc2, one epoch, test accuracy. It is the yardstick that
`benchmarks/overhead_vs_plain.py` times the toolkit against.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = torch.flatten(self.dropout1(F.max_pool2d(x, 2)), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default="../shared/data", help="folder holding MNIST/raw (torchvision layout)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = datasets.MNIST(args.root, train=True, download=False, transform=tf)
    test = datasets.MNIST(args.root, train=False, download=False, transform=tf)
    train_loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)

    model = Net(num_classes=2)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    model.train()
    for x, _ in train_loader:  # pretext: transpose prediction
        flip = torch.rand(len(x)) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.transpose(2, 3), x)
        loss = F.nll_loss(model(x), flip.long())
        opt.zero_grad()
        loss.backward()
        opt.step()

    for name, p in model.named_parameters():  # probe: the seed protocol
        p.requires_grad = name.startswith("fc")
    model.fc2 = nn.Linear(128, 10)
    opt = torch.optim.Adadelta([p for p in model.parameters() if p.requires_grad], lr=1.0)
    model.train()
    for x, y in train_loader:
        loss = F.nll_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test_loader:
            correct += int((model(x).argmax(1) == y).sum())
    print(f"plain script: seed-fc accuracy after transpose pretext {100.0 * correct / len(test):.2f}%")


if __name__ == "__main__":
    main()
