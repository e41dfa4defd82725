"""The self-contained HTML page of an audit: inline CSS, thumbnails as base64 PNG data URIs, no script, no links out.

Sections in order: summary, cross-class clusters, mask conflicts (thumbnails with the lesion outline in green),
the other duplicate clusters, burnt-in annotations and colour overlays (at most ``MAX_BURNT_IN_THUMBS``
thumbnails; the full list is in ``audit.json``), and one leakage table per audited split. Every piece of text
taken from the data (file names, labels, case ids, paths) is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
import os
from concurrent.futures import ThreadPoolExecutor
from html import escape
from typing import Any

import cv2
import numpy as np
from PIL import Image

from benchmark.audit.glimpses import THUMB_HEIGHT, Glimpses, thumb_view
from benchmark.data.cache import DerivedCache
from benchmark.data.dataset import Dataset

MAX_BURNT_IN_THUMBS = 120

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
.cluster{border:1px solid #ddd;border-radius:4px;padding:.5em;margin:.6em 0}
.cross{border-color:#c33;background:#fff5f5}
figure{display:inline-block;margin:.3em;text-align:center;vertical-align:top}
figcaption{font-size:.8em;max-width:180px;word-wrap:break-word}
img{height:110px;border:1px solid #999}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
.small{font-size:.8em;color:#555}
"""


def thumbnail(rgb: np.ndarray, mask: np.ndarray | None = None) -> str:
    """A PNG data URI of ``rgb`` scaled to :data:`THUMB_HEIGHT` rows, with the mask outline in green if given."""
    return _thumbnail_of_view(*thumb_view(rgb, mask))


def _thumbnail_of_view(small: np.ndarray, m: np.ndarray | None) -> str:
    """:func:`thumbnail` from the image and mask that :func:`~benchmark.audit.glimpses.thumb_view` shrank (kept)."""
    if m is not None:
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        small = small.copy()  # the outline is drawn on a copy: a kept view serves the plain thumbnail too
        cv2.drawContours(small, contours, -1, (0, 255, 0), 1)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG", compress_level=1)  # 6x faster than optimize=True, 5% larger
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


#: Raise when :func:`thumbnail` draws differently: cached thumbnails are then unused.
_THUMB_VERSION = 1


class _Thumbs:
    """Thumbnails of cases: cached by fingerprint across audits, the missing ones drawn in a few threads.

    The page is rendered twice: first with ``recording`` on, which only notes the figures it asks for, then after
    :meth:`fill` has made them all at once (so their decoding and PNG encoding run in parallel).
    """

    def __init__(self, dataset: Dataset, glimpses: Glimpses | None):
        self.dataset = dataset
        self.glimpses = glimpses
        self.uris: dict[tuple[str, bool], str] = {}
        self.wanted: list[tuple[str, bool]] = []
        self.recording = True
        self._cache = DerivedCache("thumbnail", {"version": _THUMB_VERSION, "height": THUMB_HEIGHT})

    def figure(self, case_id: str, caption: str, outline: bool = False) -> str:
        key = (case_id, outline)
        if self.recording:
            self.wanted.append(key)
            return ""
        return (f'<figure><img alt="{escape(case_id)}" src="{self.uris[key]}">'
                f"<figcaption>{caption}</figcaption></figure>")

    def _cache_key(self, key: tuple[str, bool]) -> str:
        facts = self.dataset.facts()[key[0]]
        # the image alone decides a plain thumbnail; an outlined one depends on the mask too
        return f"outline|{facts.fingerprint}" if key[1] else f"plain|{facts.image_fingerprint}"

    def _draw(self, key: tuple[str, bool]) -> str:
        seen = self.glimpses.get(key[0]) if self.glimpses is not None else None
        if seen is not None:  # kept from the audit's decoding pass: not decoded again
            return _thumbnail_of_view(seen.thumb, seen.thumb_mask if key[1] else None)
        rgb, mask = self.dataset.decode(self.dataset.case(key[0]))
        return thumbnail(rgb, mask if key[1] else None)

    def fill(self) -> None:
        """Make every thumbnail asked for while recording, then stop recording."""
        todo = []
        for key in dict.fromkeys(self.wanted):
            hit = self._cache.get(self._cache_key(key))
            if hit is None:
                todo.append(key)
            else:
                self.uris[key] = hit
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for key, uri in zip(todo, pool.map(self._draw, todo), strict=True):
                self.uris[key] = uri
                self._cache.put(self._cache_key(key), uri)
        self._cache.save()
        self.recording = False


def _member_caption(m: dict[str, str]) -> str:
    return f"<b>{escape(m['case_id'])}</b><br>{escape(m['label'])}<br><span class=small>{escape(m['image'])}</span>"


def _pairs_table(pairs: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(p['a'])}</td><td>{escape(p['b'])}</td><td>{escape(p['relation'])}</td>"
        f"<td>{p['score']:.3f}</td><td>{p['scale']:.3f}</td><td>{'yes' if p['flipped'] else 'no'}</td>"
        f"<td>{'' if p['mask_dice'] is None else format(p['mask_dice'], '.3f')}</td></tr>"
        for p in pairs)
    return ("<table><tr><th>a</th><th>b</th><th>relation</th><th>score (NCC)</th><th>scale</th><th>flipped</th>"
            f"<th>mask Dice</th></tr>{rows}</table>")


def _cluster(c: dict[str, Any], thumbs: _Thumbs) -> str:
    figures = "".join(thumbs.figure(m["case_id"], _member_caption(m)) for m in c["members"])
    title = (f"{escape(c['id'])}: {len(c['members'])} images, labels {escape(', '.join(c['labels']))}, "
             f"{escape(', '.join(c['relations']))}")
    return (f'<div class="cluster{" cross" if c["cross_class"] else ""}"><div>{title}</div>{figures}'
            f"{_pairs_table(c['pairs'])}</div>")


def _leakage(s: dict[str, Any]) -> str:
    total = s["total"]
    head = (f"<h3>{escape(s['source'])} ({escape(s['kind'])}, group {escape(str(s['group']))})</h3>"
            f"<p>{total['leaked']} of {total['n_test']} test cases ({100 * total['leaked_fraction']:.1f}%) have a "
            f"near-duplicate or same-patient image on their training side"
            + (f"; {s['unlisted']} dataset cases are in no part" if "unlisted" in s else "") + ".</p>")
    rows = []
    for f in s["folds"]:
        which = "; ".join(f"{escape(t)} &larr; {escape(', '.join(p))}" for t, p in f["duplicate_partners"].items())
        patient = "n/a" if f["patient_leaked"] is None else str(f["patient_leaked"])
        rows.append(f"<tr><td>{f['fold']}</td><td>{f['n_train']}/{f['n_val']}/{f['n_test']}</td>"
                    f"<td>{f['duplicate_leaked']}</td><td>{patient}</td><td class=small>{which}</td></tr>")
    return (head + "<table><tr><th>fold</th><th>train/val/test</th><th>duplicate leaks</th><th>patient leaks</th>"
            f"<th>test case &larr; training-side duplicates</th></tr>{''.join(rows)}</table>")


def render_html(doc: dict[str, Any], dataset: Dataset, glimpses: Glimpses | None = None) -> str:
    """The report page of an ``audit.json`` document (see module docstring).

    Args:
        doc: The document.
        dataset: The audited dataset (thumbnails are made from its images).
        glimpses: Views kept from the audit's decoding pass (:func:`benchmark.audit.report.audit_dataset`); the
            images of cases without one are decoded (their thumbnails are the same either way).
    """
    thumbs = _Thumbs(dataset, glimpses)
    _page(doc, dataset, thumbs)  # notes the thumbnails the page shows
    thumbs.fill()
    return _page(doc, dataset, thumbs)


def _page(doc: dict[str, Any], dataset: Dataset, thumbs: _Thumbs) -> str:
    d, dup = doc["dataset"], doc["duplicates"]
    clusters = dup["clusters"]
    cross = [c for c in clusters if c["cross_class"]]
    rest = [c for c in clusters if not c["cross_class"]]
    conflicts = doc["mask_conflicts"]
    burnt = doc["burnt_in"]
    labels = {c.case_id: c.label for c in dataset.cases}
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>busbench audit: {escape(d['name'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Audit of {escape(d['name'])}</h1>",
        f"<p class=small>{escape(d['location'])}, fingerprint {escape(d['fingerprint'][:16])}, {d['n_cases']} cases "
        f"({escape(', '.join(f'{k} {v}' for k, v in d['classes'].items()))}); {escape(doc['created'])}; "
        f"{doc['seconds']} s</p>",
        "<ul>",
        f"<li>{dup['n_clusters']} duplicate clusters ({dup['n_cases_in_clusters']} images, "
        f"{dup['n_pairs']} pairs)</li>",
        f"<li>{len(cross)} cross-class clusters</li>",
        f"<li>{len(conflicts['pairs'])} mask conflicts (Dice &lt; {conflicts['threshold']})</li>",
        f"<li>{burnt['n_annotated']} images with burnt-in annotations, {burnt['n_colour']} with a colour overlay</li>",
        "</ul>",
        "<h2>Cross-class clusters</h2>",
        "".join(_cluster(c, thumbs) for c in cross) or "<p>None.</p>",
        f"<h2>Mask conflicts (Dice &lt; {conflicts['threshold']}, lesion outline in green)</h2>",
    ]
    for p in conflicts["pairs"]:
        figs = "".join(thumbs.figure(x, f"<b>{escape(x)}</b><br>{escape(labels[x])}", outline=True)
                       for x in (p["a"], p["b"]))
        parts.append(f'<div class="cluster">{figs}{_pairs_table([p])}</div>')
    if not conflicts["pairs"]:
        parts.append("<p>None.</p>")
    parts.append("<h2>Other duplicate clusters</h2>")
    parts.append("".join(_cluster(c, thumbs) for c in rest) or "<p>None.</p>")
    parts.append(f"<h2>Burnt-in annotations and colour overlays ({burnt['n_annotated']} annotated, "
                 f"{burnt['n_colour']} colour)</h2>")
    ordered = sorted(burnt["cases"].items(), key=lambda kv: (not kv[1]["colour"], kv[0]))
    for cid, b in ordered[:MAX_BURNT_IN_THUMBS]:
        what = ", ".join(b["kinds"] + (["colour overlay"] if b["colour"] else []))
        parts.append(thumbs.figure(cid, f"<b>{escape(cid)}</b><br>{escape(labels[cid])}<br>{escape(what)}"))
    if len(ordered) > MAX_BURNT_IN_THUMBS:
        parts.append(f"<p class=small>{len(ordered) - MAX_BURNT_IN_THUMBS} more in audit.json.</p>")
    parts.append("<h2>Split leakage</h2>")
    parts.append("".join(_leakage(s) for s in doc["splits"]) or "<p>No split given (--splits, --split-csv).</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
