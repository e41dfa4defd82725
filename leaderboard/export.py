"""Boards that leave busbench: the clean ranking as CSV, as a LaTeX table with CIs, and the BibTeX of what it cites.

One board is what the Boards page shows for a task and a split file (:func:`leaderboard.tables.ranking` cut by
:func:`leaderboard.tables.by_split`), so ``busbench results export`` and the page's download buttons hand over the
same rows in the same order. Every row carries its budget (input size, epochs, weights) and convergence flags beside
its score, and the export names the busbench version it was made with, because a score never travels without them.

The BibTeX holds busbench itself and the datasets the boards were scored on, both from ``CITATION.cff`` (BUSI is
CC BY 4.0: its paper is cited wherever results on it are shown), and each ranked submission's reference as its
plugin states it (an ``@misc`` whose note is that text, with the DOI or arXiv id found in it), once per reference.

Pure pandas and text, no Streamlit: the command and the page call the same functions.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmark.errors import BusbenchError
from benchmark.metrics.names import metric_name
from leaderboard import tables

ROOT = Path(__file__).resolve().parents[1]
CITATION_CFF = ROOT / "CITATION.cff"

#: The columns of an exported board, in order (CSV header; the LaTeX table shows a readable subset).
EXPORT_COLUMNS = ("rank", "submission", "headline_metric", "headline_value", "headline_ci_low", "headline_ci_high",
                  "budget", "convergence", "collapsed", "image_size", "epochs", "pretrained", "tuned", "runs",
                  "dataset", "benchmark", "split", "split_sha256", "protocol", "run_id", "busbench_version",
                  "evaluator_version")

#: The titles of ``CITATION.cff``'s references, by the dataset name a run records.
DATASET_TITLES = {
    "BUSI": "Dataset of breast ultrasound images",
    "BUS-BRA": "BUS-BRA: A breast ultrasound dataset for assessing computer-aided diagnosis systems",
    "BUS-UCLM": "BUS-UCLM: Breast ultrasound lesion segmentation dataset",
}

FORMATS = ("csv", "latex", "bibtex")


def boards(frame: pd.DataFrame, task: str) -> list[tuple[str, pd.DataFrame]]:
    """The clean boards of one task, one per split file, as the Boards page ranks them: ``(title, rows)``."""
    return tables.by_split(tables.ranking(frame, task))


def _version(row: pd.Series) -> str | None:
    match = re.search(r"busbench ([^,]+)", str(row.get("versions") or ""))
    return match.group(1) if match else None


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for _, row in rows.iterrows():
        record = {k: row.get(k) for k in EXPORT_COLUMNS}
        record.update({"split": row.get("split_path") or row.get("split"),
                       "collapsed": row.get("constant_prediction") or "", "busbench_version": _version(row)})
        record = {k: None if tables.missing(v) else v for k, v in record.items()}
        for key in ("rank", "image_size", "epochs", "runs", "evaluator_version"):  # a column with gaps is float
            if isinstance(record[key], float) and record[key].is_integer():
                record[key] = int(record[key])
        out.append(record)
    return out


def to_csv(board_list: list[tuple[str, pd.DataFrame]]) -> str:
    """Every board's rows as one CSV of :data:`EXPORT_COLUMNS` (the ``split`` column tells the boards apart)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for _, rows in board_list:
        writer.writerows(_records(rows))
    return out.getvalue()


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: Any) -> str:
    """``text`` with LaTeX's special characters escaped, so that any run's metadata typesets as written."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def _score(record: dict[str, Any]) -> str:
    value, low, high = record["headline_value"], record["headline_ci_low"], record["headline_ci_high"]
    if value is None:
        return "n/a"
    interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else " [CI undefined]"
    return f"{value:.3f}{interval}"


def to_latex(board_list: list[tuple[str, pd.DataFrame]], task: str) -> str:
    """One booktabs ``table`` per board: rank, model, headline with its 95% CI, budget and convergence.

    The caption names the task, the split file and the busbench version; the budget is shortened to size, epochs
    and weights (the CSV has the weights' source in full). The document needs the booktabs package.
    """
    parts = ["% Exported by busbench (busbench results export); needs \\usepackage{booktabs}."]
    for title, rows in board_list:
        records = _records(rows)
        metric = next((r["headline_metric"] for r in records if r["headline_metric"]), "headline")
        heading = metric_name(metric)
        versions = sorted({r["busbench_version"] for r in records if r["busbench_version"]})
        named = next((r["benchmark"] for r in records if r["benchmark"]), None)
        evaluators = sorted({str(r["evaluator_version"]) for r in records if r["evaluator_version"] is not None})
        where = f"{named}, split file {title}" if named else f"split {title}"
        caption = (f"{task.capitalize()} on the clean protocol, {where}: {heading.lower()} pooled over the "
                   "test folds with its 95% cluster-bootstrap confidence interval; budget is input size, epochs "
                   f"and weights. busbench {', '.join(versions) or 'version not recorded'}, evaluator version "
                   f"{', '.join(evaluators) or 'not recorded'}.")
        body = [f"{r['rank']} & {latex_escape(r['submission'])} & {_score(r)} & {latex_escape(_short(r['budget']))} "
                f"& {latex_escape(_flags(r))} \\\\" for r in records]
        parts += ["\\begin{table}[t]", "\\centering", f"\\caption{{{latex_escape(caption)}}}",
                  "\\begin{tabular}{rllll}", "\\toprule",
                  f"\\# & Model & {heading} [95\\% CI] & Budget & Flags \\\\", "\\midrule", *body, "\\bottomrule",
                  "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(parts)


def _short(budget: Any) -> str:
    """A budget without its parenthesised details (the weights' package and hash stay in the CSV)."""
    return re.sub(r" \([^)]*\)", "", str(budget or ""))


def _flags(record: dict[str, Any]) -> str:
    flags = [str(record["convergence"] or "").strip(), f"predicts {record['collapsed']} only"
             if record["collapsed"] else ""]
    return "; ".join(f for f in flags if f) or "none"


def _cff(path: Path = CITATION_CFF) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BusbenchError(path, f"cannot read the citation file: {exc}") from exc
    if not isinstance(doc, dict) or not doc.get("title"):
        raise BusbenchError(path, "is not a CITATION.cff with a title")
    return doc


def _bib_value(text: Any) -> str:
    return str(text).replace("{", "(").replace("}", ")")


def _bib_entry(kind: str, key: str, fields: dict[str, Any]) -> str:
    lines = [f"@{kind}{{{key},"]
    lines += [f"  {name} = {{{_bib_value(value)}}}," for name, value in fields.items() if value not in (None, "")]
    return "\n".join(lines) + "\n}\n"


def _authors(people: list[dict[str, Any]] | None) -> str:
    names = []
    for p in people or []:
        if p.get("family-names"):
            names.append(f"{p['family-names']}, {p.get('given-names', '')}".strip(", "))
        elif p.get("name"):
            names.append(f"{{{p['name']}}}")
    return " and ".join(names)


def _key(*words: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "", "".join(str(w) for w in words).lower()) or "ref"


def _reference_entry(ref: dict[str, Any]) -> str:
    first = (ref.get("authors") or [{}])[0]
    key = _key(first.get("family-names") or first.get("name") or "anon", ref.get("year", ""),
               str(ref.get("title", "")).split()[0])
    pages = "--".join(str(ref[k]) for k in ("start", "end") if ref.get(k))
    return _bib_entry("article" if ref.get("type") == "article" else "misc", key, {
        "author": _authors(ref.get("authors")), "title": ref.get("title"), "journal": ref.get("journal"),
        "volume": ref.get("volume"), "number": ref.get("issue"), "pages": pages, "year": ref.get("year"),
        "doi": ref.get("doi")})


def _identifier(text: str) -> dict[str, str]:
    doi = re.search(r"\b(10\.\d{4,9}/[^\s;,]+[^\s;,.)])", text)
    arxiv = re.search(r"arXiv:\s*(\d{4}\.\d{4,5})", text)
    out = {}
    if doi:
        out["doi"] = doi.group(1)
    if arxiv:
        out["eprint"], out["archiveprefix"] = arxiv.group(1), "arXiv"
    return out


def references(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each submission's reference as its plugin states it, from store rows (``run_json``'s ``submission``)."""
    out: dict[str, str] = {}
    for row in rows:
        sub = (row.get("run_json") or {}).get("submission")
        if isinstance(sub, dict) and sub.get("name") and str(sub.get("reference") or "").strip():
            out.setdefault(str(sub["name"]), str(sub["reference"]).strip())
    return out


def to_bibtex(board_list: list[tuple[str, pd.DataFrame]], cited: dict[str, str], *,
              citation: Path = CITATION_CFF) -> str:
    """BibTeX of busbench, of each dataset the boards were scored on, and of each ranked submission's reference.

    Args:
        board_list: The boards exported (:func:`boards`).
        cited: Submission name to the reference its plugin states (:func:`references`).
        citation: The ``CITATION.cff`` to read busbench's and the datasets' entries from.

    Raises:
        BusbenchError: When ``CITATION.cff`` cannot be read, naming it.
    """
    cff = _cff(citation)
    released = str(cff.get("date-released") or "")[:4]
    entries = [_bib_entry("software", "busbench", {
        "author": _authors(cff.get("authors")), "title": cff["title"], "version": cff.get("version"),
        "year": released, "license": cff.get("license"), "note": "split file and evaluator as named in each table"})]
    known = {str(r.get("title")): r for r in cff.get("references") or [] if isinstance(r, dict)}
    rows = pd.concat([rows for _, rows in board_list]) if board_list else pd.DataFrame(columns=["dataset"])
    for name in sorted({str(d) for d in rows["dataset"].dropna()}):
        ref = known.get(DATASET_TITLES.get(name, ""))
        entries.append(_reference_entry(ref) if ref is not None
                       else f"% dataset {name}: no reference in {citation.name}; cite it as its authors ask\n")
    texts: dict[str, str] = {}
    for name in dict.fromkeys(str(n) for n in rows.get("submission", pd.Series(dtype=object)).dropna()):
        if name in cited:
            texts.setdefault(cited[name], name)
    entries += [_bib_entry("misc", _key(name), {"title": name, "note": text, **_identifier(text)})
                for text, name in texts.items()]
    return "\n".join(entries)


def export(frame: pd.DataFrame, task: str, fmt: str, *, cited: dict[str, str] | None = None,
           citation: Path = CITATION_CFF) -> str:
    """The boards of ``task`` in ``fmt`` (one of :data:`FORMATS`).

    Args:
        frame: Every run of the store (:func:`leaderboard.tables.board_frame`).
        task: ``classification`` or ``segmentation``.
        fmt: ``csv``, ``latex`` or ``bibtex``.
        cited: For BibTeX, each submission's reference (:func:`references`).
        citation: For BibTeX, the ``CITATION.cff`` to read.

    Raises:
        BusbenchError: For an unknown format, or an unreadable ``CITATION.cff``.
    """
    board_list = boards(frame, task)
    if fmt == "csv":
        return to_csv(board_list)
    if fmt == "latex":
        return to_latex(board_list, task)
    if fmt == "bibtex":
        return to_bibtex(board_list, cited or {}, citation=citation)
    raise BusbenchError("--format", f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
