"""The leaderboard app: ``busbench leaderboard`` serves this file with Streamlit (localhost only).

Pages live in ``leaderboard/views/``; which store they read is set by the environment (see
:mod:`leaderboard.sources`): ``BUSBENCH_LEADERBOARD_RESULTS`` (a store URL or a folder of runs; default: the
committed runs under ``leaderboard/results``) and ``BUSBENCH_LEADERBOARD_DATA`` (the dataset folder, for
reference masks and thumbnails).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script with only its own folder on sys.path; the pages import the package.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

PAGES = [
    ("views/boards.py", "Boards", "boards", ":material/leaderboard:"),
    ("views/published.py", "Published", "published", ":material/menu_book:"),
    ("views/submission.py", "Submission", "submission", ":material/biotech:"),
    ("views/compare.py", "Compare", "compare", ":material/compare_arrows:"),
    ("views/audit.py", "Audit", "audit", ":material/policy:"),
]

st.set_page_config(page_title="busbench leaderboard", page_icon=":material/leaderboard:", layout="wide")
navigation = st.navigation([st.Page(path, title=title, url_path=url, icon=icon, default=i == 0)
                            for i, (path, title, url, icon) in enumerate(PAGES)])
st.sidebar.caption("busbench: an honest benchmark for breast-ultrasound classification and segmentation.")
navigation.run()
