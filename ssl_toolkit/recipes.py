"""Default recipes: what a run gets for the keys the user leaves unset, chosen from the task and the data.

- **The seed experiment** (transpose or rotation on MNIST with the PyTorch example net) keeps the seed's recipe:
  the schema's own defaults, Adadelta lr 1.0 with the example's StepLR (gamma 0.7), batch 64.
- **Every other run** gets its task's optimizer recipe (``PretextTask.optimizer_recipe``: AdamW + cosine for
  classic pretext tasks, Adam 2e-4 / beta1 0.5 for GANs, Adam 1e-3 for VAEs) and a backbone that fits the image
  size: ``mnist_net`` for images up to ``SMALL_IMAGE`` px, ``resnet18`` above (the example net's fc1 grows with
  the square of the image side: 130 M weights at 256 px).

The image size is read without opening the dataset: known for the built-in datasets, ``data.image_size`` or
``data.tile_size`` when given, else the first image's or GeoTIFF's header. The choice is printed once by
``ssl pretrain`` and recorded in config.yaml, which lists every value.
"""

from __future__ import annotations

from typing import Any

from pretext import factory
from ssl_toolkit.data import BUILTIN_SIZES, peek_image_size
from ssl_toolkit.registry import TASKS

SMALL_IMAGE = 32  # up to this side in px the example net stays small (fc1 of 1.6 M weights at 32 px)
SEED_TASKS = ("transpose", "rotation")
LR_PER_256 = "optim.lr_per_256"  # in an optimizer recipe: the learning rate for a batch of 256


def image_side(flat: dict[str, Any]) -> int | None:
    """The side in px of the images a run will train on, or None when it cannot be told without opening them."""
    for key in ("data.image_size", "data.tile_size"):
        if flat.get(key):
            return int(flat[key])
    name = flat["data.name"]
    if name in BUILTIN_SIZES:
        return BUILTIN_SIZES[name]
    return peek_image_size(name)


def is_seed_experiment(flat: dict[str, Any]) -> bool:
    return (
        flat["data.name"] == "mnist"
        and flat["task.name"] in SEED_TASKS
        and flat["backbone.name"] == "mnist_net"
        and flat.get("data.image_size") in (None, 28)
    )


def recipe(flat: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Values for the unset keys of the config ``flat`` (every given value applied; ``given`` their keys)."""
    chosen: dict[str, Any] = {}
    first = factory.task_names(flat["task.name"])[0]
    if "backbone.name" not in given:
        side = image_side(flat)
        wanted = getattr(TASKS.get(first), "default_backbone", None)  # a learner that needs a kind of net (MAE: a ViT)
        chosen["backbone.name"] = wanted or ("mnist_net" if side is not None and side <= SMALL_IMAGE else "resnet18")
    if is_seed_experiment({**flat, **chosen}):
        return chosen
    for key, value in TASKS.get(first).optimizer_recipe.items():
        if key == LR_PER_256:  # a learning rate published for batches of 256, scaled linearly (Goyal et al. 2017)
            chosen["optim.lr"] = value * flat["train.batch_size"] / 256
        else:
            chosen[key] = value
    return chosen


def describe(config_flat: dict[str, Any], given: set[str]) -> str:
    """One line naming the values the recipe chose (for ``ssl pretrain`` to print once)."""
    flat = dict(config_flat)
    picked = recipe(flat, given)
    keys = [k for k in picked if k not in given]
    side = image_side(flat)
    what = "the seed experiment's recipe" if is_seed_experiment(flat) else f"the {flat['task.name']} recipe"
    shown = ", ".join(f"{k}={flat[k]}" for k in keys) or "nothing left to choose"
    size = f"{side} px" if side else "image size unknown"
    return f"defaults for {flat['task.name']} on {flat['data.name']} ({size}): {what}: {shown}"
