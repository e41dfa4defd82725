"""The training engine: fold data as tensors, the training loop with epoch selection, and the per-fold runner."""
