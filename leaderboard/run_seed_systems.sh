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

SPLIT=splits/busi/5fold_grouped.json

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
    # shellcheck source=leaderboard/plan_lib.sh
    source leaderboard/plan_lib.sh
    want=" $* "
    echo "$PLAN" | while read -r name size epochs; do
        [[ -z "$name" ]] && continue
        [[ $# -gt 0 && "$want" != *" $name "* ]] && continue
        run_plan_line "$name" "$name" "$SPLIT" "$size" "$epochs" --no-pretrained
    done
}
main "$@"; exit
