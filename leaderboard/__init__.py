"""The Streamlit leaderboard (``busbench leaderboard``): boards, published numbers, submissions, comparisons, audit.

The app reads a results store (``benchmark.results.store``) and the run folders it indexes; with no store named
it indexes the committed runs under ``leaderboard/results`` into a private cache (see :mod:`leaderboard.sources`).
"""
