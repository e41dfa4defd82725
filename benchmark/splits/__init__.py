"""Fixed k-fold split files: made once, committed, and verified against the data on every load."""
