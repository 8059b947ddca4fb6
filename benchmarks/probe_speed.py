"""Probe speed, in one run on MNIST (60,000 train / 10,000 test images, mnist_net features):

1. Linear probe on cached features (extract once, then EPOCHS epochs of softmax regression) against the same
   classifier re-extracting the training features through the frozen backbone every epoch, as a probe without
   a feature cache does. Same classifier, same epochs, same seed; both accuracies printed.
2. kNN (k 20, cosine, temperature 0.07) with faiss against a brute-force torch kNN (one matrix product per
   query chunk, then top-k), both on the same cached features; the predictions must agree.

    python benchmarks/probe_speed.py [--run RUN] [--epochs 3]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from probes.base import extract_features
from probes.knn import knn_predict
from probes.linear import accuracy, fit_softmax
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataOptions, Normalizer, load_data
from ssl_toolkit.runs import load_backbone_weights


def torch_knn(train: torch.Tensor, labels: torch.Tensor, queries: torch.Tensor, classes: int, k: int, t: float):
    a, q = F.normalize(train, dim=1), F.normalize(queries, dim=1)
    preds = []
    for chunk in q.split(1024):
        sims, idx = (chunk @ a.T).topk(k, dim=1)
        votes = torch.zeros(len(chunk), classes, dtype=torch.float64)
        votes.scatter_add_(1, labels[idx], torch.exp((sims.double() - 1) / t))
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a run folder whose mnist_net backbone to use (default: random init, seed 1)")
    parser.add_argument("--epochs", type=int, default=3, help="linear-probe epochs for both ways (default 3)")
    args = parser.parse_args()
    torch.manual_seed(1)
    cpu = torch.device("cpu")
    data = load_data("mnist", DataOptions())
    net = create_backbone("mnist_net", 1, 28)
    if args.run:
        load_backbone_weights(Path(args.run) / "backbone.safetensors", net)
    normalize = Normalizer.for_data(data, cpu)

    t0 = time.perf_counter()
    x_train, y_train = extract_features(net, data.train, normalize, cpu)
    x_test, y_test = extract_features(net, data.test, normalize, cpu)
    extract_s = time.perf_counter() - t0
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    t0 = time.perf_counter()
    clf = fit_softmax((x_train - mean) / std, y_train, 10, weight_decay=1e-4, epochs=args.epochs, seed=1)
    cached_s = extract_s + time.perf_counter() - t0
    cached_acc = accuracy(clf, (x_test - mean) / std, y_test)

    # without a cache: every epoch runs the frozen backbone over the training images again
    t0 = time.perf_counter()
    torch.manual_seed(1)
    clf = torch.nn.Linear(x_train.shape[1], 10)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-2, weight_decay=1e-4)
    total = args.epochs * math.ceil(len(y_train) / 1024)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    g = torch.Generator().manual_seed(1)
    for _ in range(args.epochs):
        feats, _ = extract_features(net, data.train, normalize, cpu)
        feats = (feats - mean) / std
        for idx in torch.randperm(len(feats), generator=g).split(1024):
            loss = F.cross_entropy(clf(feats[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    test_feats, _ = extract_features(net, data.test, normalize, cpu)
    uncached_s = time.perf_counter() - t0
    uncached_acc = accuracy(clf, (test_feats - mean) / std, y_test)

    t0 = time.perf_counter()
    faiss_pred = knn_predict(x_train.numpy(), y_train.numpy(), x_test.numpy(), 10, 20, 0.07)
    faiss_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch_pred = torch_knn(x_train, y_train, x_test, 10, 20, 0.07).numpy()
    torch_s = time.perf_counter() - t0
    agree = float(np.mean(faiss_pred == torch_pred)) * 100

    print(f"MNIST, mnist_net ({'run ' + args.run if args.run else 'random init'}), {torch.get_num_threads()} threads")
    print(f"linear probe, {args.epochs} epochs:")
    print(f"  cached features (extract once: {extract_s:.1f} s):  {cached_s:7.1f} s   test {cached_acc:.2f}%")
    print(f"  re-extracting every epoch:                  {uncached_s:7.1f} s   test {uncached_acc:.2f}%")
    print(f"  ratio re-extract / cached: {uncached_s / cached_s:.2f}x")
    print("kNN, k 20, 10,000 queries against 60,000 features:")
    print(f"  faiss flat inner product: {faiss_s:6.2f} s   test {100 * np.mean(faiss_pred == y_test.numpy()):.2f}%")
    print(f"  brute-force torch:        {torch_s:6.2f} s   test {100 * np.mean(torch_pred == y_test.numpy()):.2f}%")
    print(f"  ratio torch / faiss: {torch_s / faiss_s:.2f}x; predictions agree on {agree:.2f}% of queries")


if __name__ == "__main__":
    main()
