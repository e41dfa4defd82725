#!/usr/bin/env bash
# External validation on the committed example: a model trained on BUSI's folds (examination-grouped split) predicts
# every image of the second synthetic scanner site, and the gap to its cross-validated BUSI score is measured. No
# second real breast-ultrasound dataset is available to this project's machines, so the test data is synthetic
# (`synthetic:site=b`, made on the fly, nothing downloaded); with BUS-BRA or another dataset, make the split with
# `busbench splits external` and run the same command on it.
#
#   leaderboard/run_external.sh              # every row of the plan, in order
#
# Each row is one `busbench external` run, published into leaderboard/results when complete. Runs resume: a killed
# one continues from its last finished epoch when the same line runs again. BUSI, THREADS, DEVICE and OUT come from
# the environment (leaderboard/plan_lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# name                 external split (3-class, then benign vs malignant)                     test data         size  epochs
PLAN="
efficientnet_lite0     splits/external/busi_examination_to_synthetic_site_b.json  synthetic:site=b  160   10
efficientnet_lite0     splits/external/busi_without_normals_to_synthetic_site_b.json  synthetic:site=b  160   10
"

main() {
    # shellcheck source=leaderboard/plan_lib.sh
    source leaderboard/plan_lib.sh
    mkdir -p "$OUT/logs"
    echo "$PLAN" | while read -r name split test size epochs; do
        [[ -z "$name" ]] && continue
        local log="external-$name-$(basename "$split" .json)"
        echo "== $log: $name, ${size} px, ${epochs} epochs, $THREADS thread(s), device $DEVICE" >&2
        if .venv/bin/busbench external "$name" --dataset "$BUSI" --test-dataset "$test" --splits "$split" \
            --image-size "$size" --epochs "$epochs" --pretrained --device "$DEVICE" --threads "$THREADS" \
            --out "$OUT" >>"$OUT/logs/$log.log" 2>&1; then
            local run_id
            run_id=$(sed -n "s/^external \($name-external-[0-9a-f]*\): .*/\1/p" "$OUT/logs/$log.log" | tail -1)
            [[ -e "leaderboard/results/$run_id" ]] || .venv/bin/busbench results publish "$OUT/$run_id" \
                --to leaderboard/results || echo "   $log: not published" >&2
        else
            echo "   $log did not complete; see $OUT/logs/$log.log" >&2
        fi
    done
}

main "$@"
