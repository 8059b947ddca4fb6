"""The training engine: loop, step context, optimizers and schedules, checkpoints, metrics."""
