#!/usr/bin/env bash
# The seed papers' systems under the clean protocol on real BUSI: every row of PLAN below is one `busbench run`
# (5-fold grouped split, from scratch, the stated CPU budget), published into leaderboard/results when complete.
#
#   leaderboard/run_seed_systems.sh                 # every system of the plan, in order
#   leaderboard/run_seed_systems.sh cheyi2024_cnn   # only the named ones
#
# Runs resume: a killed run continues from its last finished epoch when the same line runs again, and finished
# folds are never recomputed. BUSI is read from $BUSBENCH_BUSI (default ../shared/data/BUSI). THREADS (default 1)
# sets torch's CPU threads per run; DEVICE (default auto: the GPU when there is one) and OUT (default runs/busi)
# can be set too. A run on another device or precision gets its own run folder (the run id hashes them).
set -euo pipefail
cd "$(dirname "$0")/.."

BUSI=${BUSBENCH_BUSI:-../shared/data/BUSI}
THREADS=${THREADS:-1}
DEVICE=${DEVICE:-auto}
OUT=${OUT:-runs/busi}
SPLIT=splits/busi/5fold_grouped.json
GRADCAM_CASES=benign-1,benign-100,malignant-1,malignant-100,normal-1,normal-50

# dajam2025_vgg16 gets 12 epochs: the paper's batch 4 with 134 M parameters costs about 50 s an epoch on one CPU
# thread with freed-memory reuse (BENCHMARKS.md) and another run beside it, so 20 epochs of 5 folds would take 1.5 h.
# name                        image_size  epochs   (the CPU budget; cheapest first, see the README's seed-paper table)
PLAN="
cheyi2024_cnn                 128         30
cheyi2024_mobilenet           128         30
cheyi2024_efficientnetb0      128         30
cheyi2024_resnet50            96          20
cheyi2024_densenet121         96          20
li2025_alexnet                128         30
baniadam2021_alexnet          128         30
dajam2025_mobilenet           128         30
li2025_resnet34               128         30
li2025_deepcardinal50         96          20
li2025_resnet50               96          20
baniadam2021_resnet50         96          20
li2025_u2netlite              96          20
dajam2025_unet_mobilenet      96          20
cheyi2024_vgg16               64          20
cheyi2024_vgg19               64          20
dajam2025_vgg16               64          12
baniadam2021_vgg16            64          20
baniadam2021_densenet161      96          20
cheyi2024_inceptionv3         96          20
dajam2025_inceptionv3         96          20
cheyi2024_xception            96          20
dajam2025_cnn                 128         30
cheyi2024_unet                64          10
baniadam2021_unet             64          10
munukurthi2024_unet           64          10
munukurthi2024_cnn            64          10
munukurthi2024_mobilenet      64          10
munukurthi2024_vgg19          64          10
"

# One function, called on the last line: bash reads a script as it runs it, so an edit to this file while a
# plan is running must not change what the running copy does next.
main() {
    want=" $* "
    echo "$PLAN" | while read -r name size epochs; do
        [[ -z "$name" ]] && continue
        [[ $# -gt 0 && "$want" != *" $name "* ]] && continue
        mkdir -p "$OUT/logs"
        echo "== $name: ${size} px, ${epochs} epochs, $THREADS thread(s), device $DEVICE" >&2
        if .venv/bin/busbench run "$name" --dataset "$BUSI" --splits "$SPLIT" --image-size "$size" --epochs "$epochs" \
            --no-pretrained --device "$DEVICE" --threads "$THREADS" --out "$OUT" >>"$OUT/logs/$name.log" 2>&1; then
            # busbench run's first line names the run: "run <name>-<hash>: ..."
            run_id=$(sed -n "s/^run \($name-[0-9a-f]*\): .*/\1/p" "$OUT/logs/$name.log" | tail -1)
            if [[ ! -e "leaderboard/results/$run_id" ]]; then
                .venv/bin/busbench results publish "$OUT/$run_id" --to leaderboard/results \
                    || echo "   $name: not published" >&2
            fi
            # Grad-CAM maps of the same few cases for every classifier, for the leaderboard's drill-down pages.
            if .venv/bin/busbench list "$name" --task classification | grep -q "^$name "; then
                .venv/bin/busbench explain "$OUT/$run_id" --cases "$GRADCAM_CASES" \
                    --out "leaderboard/results/$run_id/gradcam" || echo "   $name: no Grad-CAM maps" >&2
            fi
        else
            echo "   $name did not complete; see $OUT/logs/$name.log" >&2
        fi
    done
}
main "$@"; exit
