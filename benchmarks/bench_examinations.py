"""The examination rule on real BUSI: pairs judged by eye against the rule, the groups it makes, and old-split leakage.

Usage::

    .venv/bin/python benchmarks/bench_examinations.py [--busi PATH] [--montage DIR]

* **Pairs judged by eye.** ``JUDGED`` lists BUSI pairs the detector shortlists, each viewed side by side and judged
  "same examination" (cine frames, the same view with and without calipers or a Doppler box) or "different lesions"
  (look-alike cysts of other patients). They were picked from every score band around the thresholds: all
  unmirrored same-scale pairs at NCC 0.40-0.85, and the mirrored or rescaled ones at 0.50-0.85. The script scores
  each again with the examination detector and counts them per NCC band and per rule condition (unmirrored, same
  scale within 15%), which is what justifies the rule's 0.45 (see :mod:`benchmark.data.examinations`).
* **Groups.** How many groups the committed examination split has, how many hold more than one image, the largest.
* **Older splits.** How many image pairs of one examination the duplicate-grouped and the image-level split put in
  different test folds, and how many of their test images have a same-examination image on their training side.
* ``--montage DIR`` writes the judged pairs side by side as PNGs (eight pairs a sheet) to look at again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.data.duplicates import DetectorParams, DuplicatePair, find_duplicates  # noqa: E402
from benchmark.data.examinations import ExaminationParams  # noqa: E402
from benchmark.data.open import open_dataset  # noqa: E402

#: Pairs judged by eye (2026-12-06): True = frames of one examination, False = different lesions.
JUDGED: dict[tuple[str, str], bool] = {
    **{tuple(sorted(p.split("/"))): True for p in (
        "benign-404/benign-412 benign-400/benign-415 benign-400/benign-404 benign-412/benign-415 "
        "benign-102/benign-121 malignant-98/malignant-99 benign-108/benign-61 benign-399/benign-406 "
        "benign-406/malignant-93 malignant-139/malignant-207 malignant-184/malignant-202 malignant-93/malignant-94 "
        "benign-343/benign-361 benign-114/benign-94 benign-397/benign-410 benign-277/benign-300 "
        "benign-433/benign-435 benign-255/benign-300 benign-238/benign-277 benign-238/benign-240 "
        "benign-282/benign-303 benign-204/benign-206 benign-240/benign-300 benign-238/benign-255 "
        "benign-206/benign-249 benign-249/benign-303 benign-204/benign-303 benign-206/benign-282 "
        "malignant-132/malignant-133 malignant-95/malignant-97 malignant-6/malignant-9 malignant-27/malignant-28 "
        "malignant-85/malignant-86 malignant-6/malignant-8 malignant-6/malignant-7 normal-10/normal-9 "
        "benign-116/benign-122 malignant-4/malignant-6 malignant-5/malignant-6 benign-114/benign-119 "
        "benign-108/benign-116 malignant-69/malignant-70 benign-61/benign-94 benign-114/benign-116 "
        "benign-108/benign-94 benign-125/benign-126 benign-394/benign-402 malignant-3/malignant-6").split()},
    **{tuple(sorted(p.split("/"))): False for p in (
        "benign-174/benign-387 benign-184/benign-54 benign-186/benign-36 benign-129/benign-87 "
        "benign-113/benign-192 benign-434/malignant-93 benign-399/benign-434 benign-59/malignant-48 "
        "benign-49/malignant-162 benign-20/benign-6 benign-20/benign-323 benign-47/normal-82 "
        "benign-140/malignant-132 benign-327/benign-72 benign-376/malignant-120 benign-49/benign-68 "
        "benign-49/benign-80 benign-103/benign-68 benign-188/malignant-208 benign-170/benign-9 "
        "benign-170/benign-326 benign-184/benign-20 benign-174/benign-9 benign-174/benign-326 "
        "benign-198/benign-434 benign-168/benign-186 benign-26/benign-434 benign-20/benign-387 "
        "benign-195/benign-62").split()},
}


def band(score: float) -> str:
    """The NCC band a score falls in."""
    for low, name in ((0.85, ">= 0.85"), (0.45, "0.45-0.85"), (0.40, "0.40-0.45")):
        if score >= low:
            return name
    return "< 0.40"


def montage(dataset, pairs: list[DuplicatePair], out: Path) -> None:
    """Write the pairs side by side, eight a sheet, with their ids, score, scale and mirroring."""
    out.mkdir(parents=True, exist_ok=True)

    def tile(cid: str) -> np.ndarray:
        img = dataset.load(cid)[0]
        width = min(260, int(img.shape[1] * 170 / img.shape[0]))
        return cv2.cvtColor(cv2.resize(img, (width, 170)), cv2.COLOR_GRAY2BGR)

    for sheet in range(0, len(pairs), 8):
        rows = []
        for p in pairs[sheet:sheet + 8]:
            row = np.concatenate([tile(p.a), np.full((170, 8, 3), 255, np.uint8), tile(p.b)], 1)
            row = cv2.copyMakeBorder(row, 22, 4, 0, 540 - row.shape[1], cv2.BORDER_CONSTANT, value=(40, 40, 40))
            label = f"{p.a} / {p.b} ncc {p.score:.3f} scale {p.scale:.2f}{' mirrored' if p.flipped else ''}"
            cv2.putText(row, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1)
            rows.append(row)
        cv2.imwrite(str(out / f"pairs-{sheet // 8:02d}.png"), np.concatenate(rows, 0))


def main() -> None:
    """Print the three tables (and write the montage when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busi", default=str(REPO.parent / "shared" / "data" / "BUSI"))
    parser.add_argument("--montage", type=Path)
    parser.add_argument("--json", type=Path, help="also write the figures there as JSON (benchmarks/run_all.py)")
    args = parser.parse_args()
    start = time.perf_counter()
    judged: list[dict[str, object]] = []
    out: dict[str, object] = {"judged": judged}
    dataset = open_dataset(args.busi)
    rule, base = ExaminationParams(), DetectorParams()
    # Every shortlisted pair, aligned at full size from a coarse score of 0.30, kept whatever its score.
    everything = find_duplicates(dataset, DetectorParams(**{**rule.detector(base).as_dict(), "accept_threshold": -1}))
    scored = {(p.a, p.b): p for p in everything.pairs}
    missing = sorted(k for k in JUDGED if k not in scored)
    if missing:
        sys.exit(f"judged pairs the detector no longer shortlists: {missing}")

    counts: Counter = Counter()
    for key, same in JUDGED.items():
        p = scored[key]
        eligible = not p.flipped and 1 / rule.max_scale_ratio <= p.scale <= rule.max_scale_ratio
        counts[band(p.score), "unmirrored, same scale" if eligible else "mirrored or rescaled", same] += 1
    print("pairs judged by eye, by NCC band and rule condition: same examination / different lesions")
    for b in (">= 0.85", "0.45-0.85", "0.40-0.45", "< 0.40"):
        for cond in ("unmirrored, same scale", "mirrored or rescaled"):
            same, other = counts[b, cond, True], counts[b, cond, False]
            if same or other:
                print(f"  {b:>9}  {cond:<23} {same:3d} / {other:3d}")
                judged.append({"band": b, "condition": cond, "same": same, "different": other})

    split = json.loads((REPO / "splits" / "busi" / "5fold_examination.json").read_text())
    members = defaultdict(list)
    for cid, record in split["cases"].items():
        members[record["group"]].append(cid)
    multi = [m for m in members.values() if len(m) > 1]
    print(f"examination split: {len(members)} groups, {len(multi)} with more than one image "
          f"({sum(map(len, multi))} images), largest {max(map(len, members.values()))}")
    out["groups"] = {"groups": len(members), "multi": len(multi), "multi_images": sum(map(len, multi)),
                     "largest": max(map(len, members.values()))}

    for name in ("5fold_grouped.json", "5fold_naive.json"):
        old = json.loads((REPO / "splits" / "busi" / name).read_text())
        test_fold = {cid: k for k, fold in enumerate(old["folds"]) for cid in fold["test"]}
        across = [(a, b) for m in multi for a, b in combinations(sorted(m), 2) if test_fold[a] != test_fold[b]]
        leaking = {c for pair in across for c in pair}
        print(f"{name}: {len(across)} same-examination image pairs in different test folds; {len(leaking)} of "
              f"{len(test_fold)} test images have a same-examination image on their training side")
        out[name] = {"pairs_across": len(across), "leaking_images": len(leaking), "test_images": len(test_fold)}
    out["seconds"] = time.perf_counter() - start
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.montage:
        montage(dataset, [scored[k] for k in sorted(JUDGED, key=lambda k: -scored[k].score)], args.montage)
        print(f"montage of the judged pairs in {args.montage}")


if __name__ == "__main__":
    main()
