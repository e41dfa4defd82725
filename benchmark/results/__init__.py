"""Run folders (what one run writes) and the results store (the index the leaderboard reads)."""
