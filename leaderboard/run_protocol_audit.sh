#!/usr/bin/env bash
# Each seed paper's protocol reproduced on the strong pretrained reference: the protocol-inflation audit of
# efficientnet_lite0 (classification) and unet_efficientnet_lite0 (segmentation) on the examination-grouped split,
# with every single leak and every combination that reproduces a headline number of leaderboard/published.csv
# ("papers"). Each trained protocol is published into leaderboard/results when the audit completes, with the
# summary as leaderboard/results/protocols-<model>-BUSI-examination.json.
#
#   leaderboard/run_protocol_audit.sh                  # classification, then segmentation
#   leaderboard/run_protocol_audit.sh classification   # one task only
#   leaderboard/run_protocol_audit.sh & leaderboard/run_protocol_audit.sh &   # two processes share the work
#
# The audit budget is smaller than the headline references' (README "Strong references"), to fit a CPU; each
# audit's own clean run uses exactly the same budget, so every leak is measured against it. Audits resume: a killed
# one continues from its last finished epoch when the same line runs again, and finished protocols are reused. Two
# copies of this script on one --out take protocols in turn (a lock per protocol), so each core trains its own.
# BUSI, THREADS, DEVICE and OUT come from the environment (leaderboard/plan_lib.sh), PRECISION too (default fp32:
# fp32 runs alike on every CPU, so an audit carried over to another machine keeps its run ids; "auto" would pick bf16
# on a CPU with native bf16 and fp32 elsewhere, and bf16 without native support is about 7x slower).
set -euo pipefail
PRECISION=${PRECISION:-fp32}
cd "$(dirname "$0")/.."

SPLIT=splits/busi/5fold_examination.json
PROTOCOLS=clean,naive,augment,overlay,select,lucky,empty,papers
# task            model                      image_size  epochs
PLAN="
classification    efficientnet_lite0         160         10
segmentation      unet_efficientnet_lite0    128         10
"

main() {
    # shellcheck source=leaderboard/plan_lib.sh
    source leaderboard/plan_lib.sh
    want=" $* "
    echo "$PLAN" | while read -r task name size epochs; do
        [[ -z "$task" ]] && continue
        [[ $# -gt 0 && "$want" != *" $task "* ]] && continue
        local protocols=$PROTOCOLS out="$OUT/protocol-audit-$name"
        [[ "$task" == classification ]] && protocols=${PROTOCOLS/,empty/}
        [[ "$task" == segmentation ]] && protocols=${PROTOCOLS/,overlay/}
        mkdir -p "$OUT/logs"
        echo "== audit $name ($task): ${size} px, ${epochs} epochs, $PRECISION, $THREADS thread(s), device $DEVICE, $SPLIT" >&2
        if .venv/bin/busbench audit protocols "$name" --task "$task" --dataset "$BUSI" --splits "$SPLIT" \
            --protocols "$protocols" --image-size "$size" --epochs "$epochs" --pretrained --device "$DEVICE" \
            --precision "$PRECISION" --threads "$THREADS" --out "$out" >>"$OUT/logs/audit-$name.log" 2>&1; then
            publish_audit "$out" "$name"
        else
            echo "   audit $name did not complete; see $OUT/logs/audit-$name.log" >&2
        fi
    done
}

# publish_audit OUT NAME: every run of the summary into leaderboard/results, and the summary beside them with its
# run folders named where they are published.
publish_audit() {
    local out=$1 name=$2 run
    for run in $(.venv/bin/python -c "import json, sys; print('\n'.join(sorted({r['run_dir'] for r in json.load(open(sys.argv[1]))['rows']})))" "$out/protocols.json"); do
        [[ -e "leaderboard/results/$(basename "$run")" ]] || .venv/bin/busbench results publish "$run" \
            --to leaderboard/results || echo "   $(basename "$run"): not published" >&2
    done
    .venv/bin/python - "$out/protocols.json" "leaderboard/results/protocols-$name-BUSI-examination.json" <<'PY'
import json, sys
from pathlib import Path
summary = json.loads(Path(sys.argv[1]).read_text())
for row in summary["rows"]:
    row["run_dir"] = f"leaderboard/results/{Path(row['run_dir']).name}"
Path(sys.argv[2]).write_text(json.dumps(summary, indent=1) + "\n")
PY
}

main "$@"
