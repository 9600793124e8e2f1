"""Training: the loop, checkpoints, run folders."""
