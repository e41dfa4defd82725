# Shared by leaderboard/run_seed_systems.sh and leaderboard/run_references.sh (sourced, not run): one plan line is
# one `busbench run`, published into leaderboard/results when complete, with Grad-CAM maps for classifiers.
# BUSI, THREADS, DEVICE and OUT come from the environment, with these defaults.

BUSI=${BUSBENCH_BUSI:-../shared/data/BUSI}
THREADS=${THREADS:-1}
DEVICE=${DEVICE:-auto}
OUT=${OUT:-runs/busi}

GRADCAM_CASES=benign-1,benign-100,malignant-1,malignant-100,normal-1,normal-50

# run_plan_line LOG NAME SPLIT SIZE EPOCHS [busbench run options...]
#   Runs (or resumes) one plan line, logging to $OUT/logs/LOG.log, then publishes the finished run and draws its
#   Grad-CAM maps. A run that does not complete is reported and left to resume on the next call.
run_plan_line() {
    local log=$1 name=$2 split=$3 size=$4 epochs=$5
    shift 5
    mkdir -p "$OUT/logs"
    echo "== $log: $name, ${size} px, ${epochs} epochs, $THREADS thread(s), device $DEVICE, $split $*" >&2
    if .venv/bin/busbench run "$name" --dataset "$BUSI" --splits "$split" --image-size "$size" --epochs "$epochs" \
        --device "$DEVICE" --threads "$THREADS" --out "$OUT" "$@" >>"$OUT/logs/$log.log" 2>&1; then
        # busbench run's first line names the run: "run <name>-<hash>: ..."
        local run_id
        run_id=$(sed -n "s/^run \($name-[0-9a-f]*\): .*/\1/p" "$OUT/logs/$log.log" | tail -1)
        if [[ ! -e "leaderboard/results/$run_id" ]]; then
            .venv/bin/busbench results publish "$OUT/$run_id" --to leaderboard/results \
                || echo "   $log: not published" >&2
        fi
        # Grad-CAM maps of the same few cases for every classifier, for the leaderboard's drill-down pages.
        if .venv/bin/busbench list "$name" --task classification | grep -q "^$name "; then
            .venv/bin/busbench explain "$OUT/$run_id" --cases "$GRADCAM_CASES" \
                --out "leaderboard/results/$run_id/gradcam" || echo "   $log: no Grad-CAM maps" >&2
        fi
    else
        echo "   $log did not complete; see $OUT/logs/$log.log" >&2
    fi
}
