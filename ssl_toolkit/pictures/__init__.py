"""Pictures as PNG: image grids and captioned tables, lon/lat maps, a task's training examples, plots."""
