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


def _clusters(frame: pd.DataFrame, splits: list, roots: tuple[Path, ...]) -> None:
    st.subheader("Duplicate clusters")
    names = [audit_data.shown_path(p, roots) for p, _ in splits]
    ui.link_choice("split", "a-split", range(len(splits)), text=lambda i: names[i])  # ?split=splits/busi/....json
    index = st.selectbox("Clusters recorded in", range(len(splits)), format_func=lambda i: names[i], key="a-split")
    ui.link_write("split", None if index == 0 else names[index])
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
        st.info(f"Thumbnails need the dataset {ui.md_escape(split.dataset_name)} (fingerprint "
                f"{split.dataset_fingerprint[:12]}), which is not on this machine. Start the leaderboard with "
                "--data PATH to see them.")
        with st.expander("Where it was looked for"):
            st.text(where)
        ui.table(pd.DataFrame([{"cluster": c["id"], "size": len(c["members"]), "labels": ", ".join(c["labels"]),
                                    "members": ", ".join(m for m, _ in c["members"])} for c in found]),
                     hide_index=True, key="a-clusters", width="stretch")
        return
    pages = max(1, -(-len(found) // CLUSTERS_PER_PAGE))
    ui.link_choice("page", "a-page", range(1, pages + 1))
    page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, key="a-page")
    ui.link_write("page", None if page == 1 else str(page))
    for cluster in found[(page - 1) * CLUSTERS_PER_PAGE:page * CLUSTERS_PER_PAGE]:
        st.text(f"{cluster['id']}: {len(cluster['members'])} images, labels {', '.join(cluster['labels'])}"
                + ("  (CROSS-CLASS)" if cluster["cross_class"] else ""))
        members = cluster["members"][:MAX_MEMBERS_SHOWN]
        _case_thumbnails(dataset, [m for m, _ in members], [f"({label})" for _, label in members])


def _leakage(splits: list, roots: tuple[Path, ...]) -> None:
    st.subheader("Leakage per split")
    summary, folds = audit_data.leakage(splits, roots)
    st.caption("Test cases with a near-duplicate on the training side (train or validation part) of their fold, "
               "by the clusters each split file records.")
    ui.table(summary, hide_index=True, key="a-leakage", width="stretch", column_config={
        "leaked share": st.column_config.NumberColumn(format="percent")})
    if not folds.empty:
        st.altair_chart(charts.leakage_per_fold(folds), width="stretch")


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
            st.caption("Thumbnails need the dataset, which is not on this machine (start the leaderboard with "
                       "--data PATH).")
            with st.expander("Where it was looked for"):
                st.text(where)
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


def _inflation_dataset(doc: dict, frame: pd.DataFrame) -> str:
    # The audit's runs are in the store: name their data as they record it; else the folder's name, never its path.
    ids = {Path(str(r.get("run_dir") or "")).name for r in doc.get("rows") or [] if isinstance(r, dict)}
    known = frame[frame["run_id"].astype(str).isin(ids) & frame["dataset"].notna()]
    if not known.empty:
        row = known.iloc[0]
        return f"{row['dataset']} (fingerprint {str(row['dataset_fingerprint'])[:12]})"
    return audit_data.dataset_name(doc.get("dataset"))


def _inflation(folder: Path, frame: pd.DataFrame) -> None:
    st.subheader("Protocol inflation")
    summaries = sources.protocol_summaries(folder)
    if not summaries:
        st.info("No protocol audit here yet (busbench audit protocols writes protocols-*.json).")
        return
    st.caption("The same model trained with the same budget under the clean protocol and under each leak: how much "
               "each leak alone adds to the score. Paired differences are against the clean run, case by case.")
    for name, doc in summaries:
        rows = audit_data.inflation_rows(doc)
        metric = ui.metric_name(doc.get("metric"))
        st.markdown(f"**{ui.md_escape(doc.get('submission'))} on {ui.md_escape(_inflation_dataset(doc, frame))}**: "
                    f"{ui.md_escape(doc.get('epochs'))} epochs at {ui.md_escape(doc.get('image_size'))} px, "
                    f"{ui.md_escape(doc.get('k'))} folds; {ui.md_escape(metric)} ({ui.md_escape(name)})")
        chartable = rows[rows["value"].notna()] if not rows.empty else rows
        if not chartable.empty:
            st.altair_chart(charts.protocol_inflation(chartable, metric), width="stretch")
        ui.table(_inflation_table(rows), hide_index=True, key=f"a-inflation-{name}", width="stretch",
                 column_config={
                     "value": st.column_config.NumberColumn(metric, format="%.3f"),
                     "ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
                     "ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f"),
                     "inflation_pp": st.column_config.NumberColumn("inflation", format="%+.1f pp")})
        if rows.empty:
            continue
        # Long text under the table, where it wraps, not in cells that cut it.
        notes = [f"- **{ui.md_escape(r['protocol'])}**: {ui.md_escape(r['what it does'])}"
                 + (f" (no paired difference: {ui.md_escape(r['note'])})" if r["note"] else "")
                 for _, r in rows.iterrows() if r["protocol"] != "clean"]
        if notes:
            st.markdown("What each leak does:\n" + "\n".join(notes))


def _inflation_table(rows: pd.DataFrame) -> pd.DataFrame:
    # The rows as shown: numbers with their CI, the paired difference against the clean run as text (n/a and why
    # where there is none), never an empty "None" cell.
    if rows.empty:
        return rows

    def paired(r: pd.Series) -> str:
        if r["protocol"] == "clean":
            return "n/a: the clean run is the baseline"
        if ui.fmt(r["paired difference"]) == "-":
            return "n/a (why: below the table)" if r["note"] else "n/a: none recorded"
        return f"{r['paired difference']:+.3f} ({r['paired low']:+.3f} to {r['paired high']:+.3f})"

    return pd.DataFrame({
        "protocol": rows["protocol"], "value": rows["value"], "ci_low": rows["ci_low"], "ci_high": rows["ci_high"],
        "inflation_pp": rows["inflation_pp"],
        "paired difference against clean (95% CI)": rows.apply(paired, axis=1),
        "p value": [ui.fmt_p(p) for p in rows["p value"]],
        "cases": [str(int(c)) if ui.fmt(c) != "-" else "n/a" for c in rows["cases"]],
        "status": rows["status"].fillna("n/a").astype(str)})


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
    folder = Path(store.folder) if store.folder else sources.COMMITTED_RESULTS
    st.caption("What inflates published BUSI scores, measured: first the protocol inflation (the same model under "
               "each leak), then the leakage of each split file, the duplicate clusters behind it, and what a "
               "dataset audit found in the images and masks.")
    _inflation(folder, frame)
    roots = (folder, sources.ROOT)  # a split beside a run: named from the results folder the user named
    if unique:
        _leakage(unique, roots)
        _clusters(frame, unique, roots)
    else:
        st.info("No split file found (splits/ in the checkout, or split.json beside a run).")
    _dataset_audits(frame, folder)


if __name__ == "__main__":
    render()
    ui.view_link("audit")
