"""Audit: duplicate clusters (thumbnails when the data is here), leakage, the dataset audit, protocol inflation.

The dataset audit part shows the mask conflicts and burnt-in annotations of ``audit-*.json`` files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from leaderboard import audit_data, charts, data, sources, ui

CLUSTERS_PER_PAGE = 8
MAX_MEMBERS_SHOWN = 6


def _dataset_for_split(frame: pd.DataFrame, fingerprint: str):
    candidates = [spec for spec in frame.loc[frame["dataset_fingerprint"] == fingerprint, "dataset_spec"].dropna()]
    specs: list[str] = []
    for spec in candidates:
        specs += sources.dataset_candidates({"dataset": {"spec": spec}})
    specs = sources.dataset_candidates({}) + specs
    return data.dataset_matching(tuple(dict.fromkeys(specs)), fingerprint)


def _clusters(frame: pd.DataFrame, splits: list) -> None:
    st.subheader("Duplicate clusters")
    names = [str(p.relative_to(sources.ROOT)) if p.is_relative_to(sources.ROOT) else str(p) for p, _ in splits]
    index = st.selectbox("Clusters recorded in", range(len(splits)), format_func=lambda i: names[i], key="a-split")
    _, split = splits[index]
    found = audit_data.clusters(split)
    cross = [c for c in found if c["cross_class"]]
    st.caption(f"{len(found)} clusters of near-duplicate images covering {sum(len(c['members']) for c in found)} of "
               f"{len(split.cases)} cases; {len(cross)} mix classes (the same image under two labels).")
    st.markdown("**Cross-class conflicts**")
    if cross:
        ui.table(pd.DataFrame([{"cluster": c["id"], "labels": ", ".join(c["labels"]),
                                    "members": ", ".join(f"{m} ({lab})" for m, lab in c["members"])} for c in cross]),
                     hide_index=True, key="a-cross", width="stretch")
    else:
        st.caption("None.")
    dataset, where = _dataset_for_split(frame, split.dataset_fingerprint)
    if dataset is None:
        st.info("Thumbnails need the dataset, which is not available here "
                f"({where}). Start the leaderboard with --data PATH to see them.")
        ui.table(pd.DataFrame([{"cluster": c["id"], "size": len(c["members"]), "labels": ", ".join(c["labels"]),
                                    "members": ", ".join(m for m, _ in c["members"])} for c in found]),
                     hide_index=True, key="a-clusters", width="stretch")
        return
    pages = max(1, -(-len(found) // CLUSTERS_PER_PAGE))
    page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="a-page")
    for cluster in found[(page - 1) * CLUSTERS_PER_PAGE:page * CLUSTERS_PER_PAGE]:
        st.text(f"{cluster['id']}: {len(cluster['members'])} images, labels {', '.join(cluster['labels'])}"
                + ("  (CROSS-CLASS)" if cluster["cross_class"] else ""))
        members = cluster["members"][:MAX_MEMBERS_SHOWN]
        _case_thumbnails(dataset, [m for m, _ in members], [f"({label})" for _, label in members])


def _leakage(splits: list) -> None:
    st.subheader("Leakage per split")
    summary, folds = audit_data.leakage(splits, sources.ROOT)
    st.caption("Test cases with a near-duplicate on the training side (train or validation part) of their fold, "
               "by the clusters each split file records.")
    ui.table(summary, hide_index=True, key="a-leakage", width="stretch", column_config={
        "leaked share": st.column_config.NumberColumn(format="percent")})
    if not folds.empty:
        st.altair_chart(charts.leakage(folds), width="stretch")


def _case_thumbnails(dataset, case_ids: list[str], labels: list[str]) -> None:
    # One row of thumbnails with the lesion outline; a case the data lacks is named, not skipped.
    known = {c.case_id for c in dataset.cases}
    for col, case_id, label in zip(st.columns(MAX_MEMBERS_SHOWN), case_ids, labels, strict=False):
        if case_id not in known:
            col.text(f"{case_id}: not in the data")
            continue
        rgb, mask = dataset.decode(dataset.case(case_id))
        col.image(audit_data.thumbnail(rgb, mask))
        col.text(f"{case_id} {label}".strip())


def _dataset_audits(frame: pd.DataFrame, folder: Path) -> None:
    st.subheader("Dataset audit: mask conflicts and burnt-in annotations")
    audits, bad = sources.dataset_audits(folder)
    for problem in bad:
        st.warning(problem)
    if not audits:
        st.info("No dataset audit here yet: busbench audit DATASET writes audit.json; saved into the results folder "
                "as audit-<dataset>.json it shows here.")
        return
    for name, doc in audits:
        st.text(f"{name}: {audit_data.audit_summary(doc)}")
        conflicts, burnt = audit_data.mask_conflict_rows(doc), audit_data.burnt_in_rows(doc)
        st.markdown("**Mask conflicts**: copies of one image whose lesion masks disagree (Dice below "
                    f"{ui.fmt((doc.get('mask_conflicts') or {}).get('threshold'), 2)} after aligning the pair), "
                    "worst first. One of the two reference masks is wrong or incomplete.")
        ui.table(conflicts, key=f"a-conflicts-{name}", column_config={
            "mask Dice": st.column_config.NumberColumn(format="%.3f")})
        st.markdown("**Burnt-in annotations and colour overlays**: calipers, text and markers drawn into the "
                    "image, and colour (Doppler flow, coloured marks), which a classifier can learn instead of "
                    "the lesion.")
        ui.table(burnt, key=f"a-burnt-{name}")
        fingerprint = str((doc.get("dataset") or {}).get("fingerprint"))
        dataset, where = _dataset_for_split(frame, fingerprint)
        if dataset is None:
            st.caption(f"Thumbnails need the dataset ({where}).")
            continue
        if not conflicts.empty:
            pages = len(conflicts)
            page = st.number_input(f"Mask conflict (of {pages})", min_value=1, max_value=pages, value=1,
                                   key=f"a-conflict-page-{name}")
            row = conflicts.iloc[page - 1]
            st.text(f"{row['case a']} and {row['case b']}: {row['relation']}, mask Dice {ui.fmt(row['mask Dice'])}")
            _case_thumbnails(dataset, [row["case a"], row["case b"]], [row["label a"], row["label b"]])
        if not burnt.empty:
            pages = max(1, -(-len(burnt) // MAX_MEMBERS_SHOWN))
            page = st.number_input(f"Annotated images, page (of {pages})", min_value=1, max_value=pages, value=1,
                                   key=f"a-burnt-page-{name}")
            shown = burnt.iloc[(page - 1) * MAX_MEMBERS_SHOWN:page * MAX_MEMBERS_SHOWN]
            _case_thumbnails(dataset, list(shown["case"]), list(shown["kinds"]))


def _inflation(folder: Path) -> None:
    st.subheader("Protocol inflation")
    summaries = sources.protocol_summaries(folder)
    if not summaries:
        st.info("No protocol audit here yet (busbench audit protocols writes protocols-*.json).")
        return
    for name, doc in summaries:
        rows = audit_data.inflation_rows(doc)
        st.text(f"{name}: {doc.get('submission')} on {doc.get('dataset')}, {doc.get('epochs')} epochs at "
                f"{doc.get('image_size')} px, {doc.get('k')} folds; {doc.get('metric')}")
        chartable = rows[rows["value"].notna()]
        if not chartable.empty:
            st.altair_chart(charts.inflation(chartable, str(doc.get("metric"))), width="stretch")
        ui.table(rows, hide_index=True, key=f"a-inflation-{name}", width="stretch", column_config={
            "inflation_pp": st.column_config.NumberColumn("inflation", format="%+.1f pp")})


def render() -> None:
    """The page."""
    st.title("Audit")
    store, frame = ui.store_or_stop()
    extra = [Path(p) / "split.json" for p in frame["run_dir"].dropna() if (Path(p) / "split.json").is_file()]
    splits, bad = audit_data.read_splits(sources.split_files(extra))
    # Split files beside runs repeat the committed ones: keep one per content.
    seen, unique = set(), []
    for path, split in splits:
        key = (split.dataset_fingerprint, tuple(split.folds))
        if key not in seen:
            seen.add(key)
            unique.append((path, split))
    for problem in bad:
        st.warning(problem)
    if unique:
        _clusters(frame, unique)
        _leakage(unique)
    else:
        st.info("No split file found (splits/ in the checkout, or split.json beside a run).")
    folder = Path(store.folder) if store.folder else sources.COMMITTED_RESULTS
    _dataset_audits(frame, folder)
    _inflation(folder)


if __name__ == "__main__":
    render()
