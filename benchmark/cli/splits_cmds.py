"""``busbench splits``: make, verify and show fixed k-fold split files; import published ones."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from benchmark.cli.common import print_json, show_progress
from benchmark.cli.data_cmds import DATASET_HELP
from benchmark.errors import BusbenchError
from benchmark.splits.schema import GROUPINGS, read_split


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``splits`` command group."""
    splits = commands.add_parser("splits", help="fixed k-fold split files").add_subparsers(
        dest="splits_command", required=True
    )

    make = splits.add_parser("make", help="make a stratified, grouped k-fold split file")
    make.add_argument("dataset", help=DATASET_HELP)
    make.add_argument("--k", type=int, default=5, help="number of folds (default 5)")
    make.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    make.add_argument("--group", choices=GROUPINGS, default="auto",
                      help="keep within one fold: patients and duplicate clusters united (the default 'auto' when "
                           "every case has a patient id), duplicate clusters ('auto' otherwise), frames of one "
                           "examination (duplicates included), patients only, or nothing (image-level)")
    make.add_argument("--val-fraction", type=float, default=0.2,
                      help="share of each training side kept as the inner validation part (default 0.2)")
    make.add_argument("--classes", type=_classes,
                      help="classes the split scores, e.g. benign,malignant (cases of other classes are left out; "
                           "default: every class of the data that has a case)")
    make.add_argument("--out", type=Path, required=True, help="split file to write")
    make.add_argument("--force", action="store_true", help="overwrite an existing split file")
    make.set_defaults(run=run_make)

    verify = splits.add_parser("verify", help="check a split file against a copy of the data, and that its folds "
                                              "are what its generator makes")
    verify.add_argument("file", type=Path)
    verify.add_argument("dataset", help=f"{DATASET_HELP} (an external split's training data)")
    verify.add_argument("--test-dataset", help="an external split's test data")
    verify.set_defaults(run=run_verify)

    edited = splits.add_parser("mark-edited", help="record that a split file's folds were edited by hand (its "
                                                   "protocol becomes 'manual')")
    edited.add_argument("file", type=Path)
    edited.add_argument("--reason", required=True, help="why it was edited (recorded in the file)")
    edited.set_defaults(run=run_mark_edited)

    show = splits.add_parser("show", help="per-fold class and group counts, and duplicate leakage")
    show.add_argument("file", type=Path)
    show.add_argument("dataset", nargs="?", help="verify against this data and re-detect duplicates in it")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(run=run_show)

    external = splits.add_parser("external", help="an external-validation split file: a training split's folds, "
                                                  "and every case of another dataset to test on")
    external.add_argument("train_split", type=Path, help="the training dataset's split file (its folds train and "
                                                         "select the models)")
    external.add_argument("train_dataset", help=f"the training data. {DATASET_HELP}")
    external.add_argument("test_dataset", help="the data every model predicts (a folder, zip, manifest CSV or "
                                               "synthetic:... spec)")
    external.add_argument("--test-classes", type=_classes,
                          help="classes scored on the test data, e.g. benign,malignant (default: the training "
                               "split's where the test data have them all)")
    external.add_argument("--group", choices=GROUPINGS, default="auto",
                          help="the test side's bootstrap unit, grouped as 'splits make --group' (default auto)")
    external.add_argument("--out", type=Path, required=True, help="external split file to write")
    external.add_argument("--force", action="store_true", help="overwrite an existing file")
    external.set_defaults(run=run_external_split)

    busbra = splits.add_parser("import-busbra", help="convert BUS-BRA's published k-fold CSV into a split file")
    busbra.add_argument("dataset", type=Path, help="the BUS-BRA folder")
    busbra.add_argument("--k", type=int, choices=(5, 10), default=5)
    busbra.add_argument("--out", type=Path, required=True)
    busbra.add_argument("--force", action="store_true", help="overwrite an existing split file")
    busbra.set_defaults(run=run_import_busbra)


def _classes(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip())


def _refuse_overwrite(out: Path, force: bool) -> None:
    # Split files are made once and committed; replacing one silently would change every number built on it.
    if out.exists() and not force:
        raise BusbenchError(out, "split file exists already; splits are made once (use --force to replace it)")


def run_make(args: argparse.Namespace) -> int:
    """``busbench splits make``."""
    from benchmark.data.open import open_dataset
    from benchmark.splits.make import make_split
    from benchmark.splits.show import render_summary, summarise

    _refuse_overwrite(args.out, args.force)
    dataset = open_dataset(args.dataset)
    split = make_split(
        dataset, k=args.k, seed=args.seed, group=args.group, val_fraction=args.val_fraction, classes=args.classes,
        progress=show_progress(),
    )
    split.save(args.out)
    print(f"wrote {args.out}")
    print(render_summary(split, summarise(split)))
    return 0


def run_external_split(args: argparse.Namespace) -> int:
    """``busbench splits external``."""
    from benchmark.data.open import open_dataset
    from benchmark.splits.external import make_external, render_external
    from benchmark.splits.verify import load_split

    _refuse_overwrite(args.out, args.force)
    train_data, test_data = open_dataset(args.train_dataset), open_dataset(args.test_dataset)
    train = load_split(args.train_split, train_data)
    split = make_external(train, train_data, test_data, classes=args.test_classes, group=args.group,
                          progress=show_progress())
    split.save(args.out)
    print(f"wrote {args.out}")
    print(render_external(split))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """``busbench splits verify``."""
    from benchmark.data.open import open_dataset
    from benchmark.splits.external import is_external
    from benchmark.splits.provenance import check_provenance
    from benchmark.splits.show import leakage_lines, patient_keys, summarise
    from benchmark.splits.verify import load_split

    if is_external(args.file):
        return _verify_external(args)
    dataset = open_dataset(args.dataset)
    dataset.facts(progress=show_progress(), fresh=True)  # every pixel, whatever the fingerprint cache says
    split = load_split(args.file, dataset)
    checked = check_provenance(split, dataset, str(args.file))
    print(f"OK: {args.file} matches {dataset.name} ({len(split.cases)} cases, {split.k} folds, "
          f"fingerprint {split.dataset_fingerprint[:12]}); {checked}")
    print("\n".join(leakage_lines(split, summarise(split, patients=patient_keys(dataset)))))
    return 0


def _verify_external(args: argparse.Namespace) -> int:
    from benchmark.data.open import open_dataset
    from benchmark.splits.external import check_duplicates_of_training, load_external, render_external
    from benchmark.splits.provenance import check_provenance

    if not args.test_dataset:
        raise BusbenchError(args.file, "is an external split: give its test data too (--test-dataset)")
    train_data, test_data = open_dataset(args.dataset), open_dataset(args.test_dataset)
    for data in (train_data, test_data):
        data.facts(progress=show_progress(), fresh=True)
    split = load_external(args.file, train_data, test_data)
    checked = check_provenance(split.train, train_data, f"{args.file} (training side)")
    check_duplicates_of_training(split, train_data, test_data, str(args.file))
    print(f"OK: {args.file} matches {train_data.name} ({len(split.train.cases)} cases, {split.train.k} folds; "
          f"{checked}) and {test_data.name} ({len(split.test.cases)} test cases)")
    print(render_external(split))
    return 0


def run_mark_edited(args: argparse.Namespace) -> int:
    """``busbench splits mark-edited``."""
    from benchmark.splits.provenance import mark_edited

    split = mark_edited(read_split(args.file), args.reason)
    split.save(args.file)
    print(f"{args.file}: recorded as edited by hand ({split.generator['reason']}); protocol 'manual'")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """``busbench splits show``."""
    from benchmark.data.duplicates import find_duplicates
    from benchmark.data.open import open_dataset
    from benchmark.splits.show import patient_keys, render_summary, summarise
    from benchmark.splits.verify import load_split

    if args.dataset:
        dataset = open_dataset(args.dataset)
        split = load_split(args.file, dataset)
        clusters = find_duplicates(dataset, progress=show_progress()).cluster_ids(list(split.cases))
        patients = patient_keys(dataset)
    else:
        split, clusters, patients = read_split(args.file), None, None
    summaries = summarise(split, clusters, patients)
    if args.json:
        print_json({"file": str(args.file), "k": split.k, "generator": split.generator,
                    "folds": [asdict(s) for s in summaries]})
    else:
        print(render_summary(split, summaries))
    return 0


def run_import_busbra(args: argparse.Namespace) -> int:
    """``busbench splits import-busbra``: the published folds, in busbench's format, with their leakage on record."""
    from benchmark.data.busbra import load_busbra
    from benchmark.splits.make import import_busbra_split
    from benchmark.splits.show import render_summary, summarise

    _refuse_overwrite(args.out, args.force)
    split = import_busbra_split(load_busbra(args.dataset), args.dataset, args.k, progress=show_progress())
    split.save(args.out)
    print(f"wrote {args.out}")
    print(render_summary(split, summarise(split)))
    return 0
