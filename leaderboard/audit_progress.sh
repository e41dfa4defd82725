#!/usr/bin/env bash
# Carry an unfinished protocol audit (leaderboard/run_protocol_audit.sh) from one machine to the next through the
# repository, when its --out folder does not survive (a lent machine, a fresh checkout).
#
#   leaderboard/audit_progress.sh save      # $OUT -> leaderboard/audit-in-progress/ (finished folds only)
#   leaderboard/audit_progress.sh restore   # leaderboard/audit-in-progress/ and the published protocol runs -> $OUT
#
# save keeps, of every protocol run under $OUT/protocol-audit-*/ that is not complete, its run.json, split.json and
# each finished fold's result.json and predictions.csv or masks.npz (for a lucky-split run, the same of each draw,
# with the draw's metrics.json) (never weights or checkpoints: an unfinished fold
# starts again from its first epoch). Complete protocol runs are published into leaderboard/results with `busbench
# results publish` instead. restore copies both back under $OUT, where the audit finds finished folds and complete
# protocols and reuses them (their run ids are unchanged as long as the submission's code and the audit's settings
# are). OUT comes from the environment (leaderboard/plan_lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=leaderboard/plan_lib.sh
source leaderboard/plan_lib.sh
KEEP=leaderboard/audit-in-progress

keep_folds() {  # keep_folds SRC DST: SRC's split.json and the result and predictions of each finished fold
    local src=$1 dst=$2 fold
    [[ -f "$src/split.json" ]] && cp "$src/split.json" "$dst/"
    for fold in "$src"/fold-*/; do
        [[ -d "$fold" ]] || continue
        if .venv/bin/python -c "import json, sys; sys.exit(json.load(open(sys.argv[1])).get('status') != 'completed')" \
            "$fold/result.json" 2>/dev/null; then
            mkdir -p "$dst/$(basename "$fold")"
            # the fold's predictions: class probabilities (classification) or masks (segmentation)
            for kept in result.json predictions.csv masks.npz; do
                [[ -f "$fold/$kept" ]] && cp "$fold/$kept" "$dst/$(basename "$fold")/"
            done
        fi
    done
    return 0
}

save() {
    local run audit name draw
    rm -rf "$KEEP.new" && mkdir -p "$KEEP.new"
    for run in "$OUT"/protocol-audit-*/*/; do
        [[ -f "$run/run.json" ]] || continue
        audit=$(basename "$(dirname "$run")") name=$(basename "$run")
        if .venv/bin/python -c "import json, sys; sys.exit(json.load(open(sys.argv[1]))['status'] != 'completed')" \
            "$run/run.json"; then
            [[ -e "leaderboard/results/$name" ]] || .venv/bin/busbench results publish "$run" --to leaderboard/results
            continue
        fi
        mkdir -p "$KEEP.new/$audit/$name"
        cp "$run/run.json" "$KEEP.new/$audit/$name/"
        keep_folds "$run" "$KEEP.new/$audit/$name"
        for draw in "$run"/draw-*/; do  # a lucky-split audit: one split and one trained fold per draw
            [[ -d "$draw" ]] || continue
            mkdir -p "$KEEP.new/$audit/$name/$(basename "$draw")"
            [[ -f "$draw/metrics.json" ]] && cp "$draw/metrics.json" "$KEEP.new/$audit/$name/$(basename "$draw")/"
            keep_folds "$draw" "$KEEP.new/$audit/$name/$(basename "$draw")"
        done
    done
    cat > "$KEEP.new/README.md" <<'MD'
# An unfinished protocol audit, carried between machines

The finished folds of the protocol runs that `leaderboard/run_protocol_audit.sh` has not completed yet: each run's
`run.json` (status `running`), `split.json` and the `result.json` and `predictions.csv` (classification) or
`masks.npz` (segmentation) of each finished fold. They are no results: nothing here is scored or shown.
`leaderboard/audit_progress.sh restore` puts them back under the audit's `--out`, where the audit keeps the
finished folds and trains the rest; the folder is removed when the audit completes and its runs are published into
`leaderboard/results`.
MD
    rm -rf "$KEEP" && mv "$KEEP.new" "$KEEP"
    echo "saved into $KEEP: $(find "$KEEP" -name result.json | wc -l) finished fold(s) of unfinished protocols"
}

restore() {
    local audit run name
    mkdir -p "$OUT"
    for run in leaderboard/results/*/; do  # the published protocol runs, back where the audit looks for them
        name=$(basename "$run")
        audit=$(.venv/bin/python -c "import json, sys; d = json.load(open(sys.argv[1])); \
print(f\"protocol-audit-{d['submission']['name']}\" if d['kind'] == 'protocol-audit' else '')" "$run/run.json")
        [[ -n "$audit" && ! -e "$OUT/$audit/$name" ]] && mkdir -p "$OUT/$audit" && cp -r "$run" "$OUT/$audit/$name"
    done
    if [[ -d "$KEEP" ]]; then
        for run in "$KEEP"/protocol-audit-*/*/; do
            audit=$(basename "$(dirname "$run")") name=$(basename "$run")
            [[ -e "$OUT/$audit/$name" ]] || { mkdir -p "$OUT/$audit" && cp -r "$run" "$OUT/$audit/$name"; }
        done
    fi
    echo "restored under $OUT"
}

case "${1:-}" in
    save) save ;;
    restore) restore ;;
    *) echo "usage: $0 save|restore" >&2; exit 2 ;;
esac
