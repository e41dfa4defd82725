#!/usr/bin/env bash
# The strong clean references on real BUSI: ImageNet-pretrained EfficientNet-Lite classifiers and a U-Net with a
# pretrained Lite0 encoder, each beside the same architecture from scratch at the same budget, on the
# examination-grouped split. Every row of the plan is one `busbench run`, published into leaderboard/results when
# complete (Grad-CAM maps for classifiers).
#
#   leaderboard/run_references.sh                               # the CPU plan, every row in order
#   leaderboard/run_references.sh efficientnet_lite0-pretrained # only the named rows (name-label)
#   BUDGET=gpu leaderboard/run_references.sh                    # the paper budget: 224 px, 50 epochs (a GPU)
#
# Runs resume: a killed run continues from its last finished epoch when the same line runs again, and finished
# folds are never recomputed. BUSI is read from $BUSBENCH_BUSI (default ../shared/data/BUSI). THREADS (default 1)
# sets torch's CPU threads per run; DEVICE (default auto: the GPU when there is one) and OUT (default runs/busi) can
# be set too. A run on another device, precision or thread count gets its own run folder (the run id hashes them).
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET=${BUDGET:-cpu}
SPLIT=splits/busi/5fold_examination.json

# The fine-tuning recipe is the submissions' own (submissions/efficientnet_lite, chosen on fold 0's validation part);
# "scratch" rows train the same architecture and recipe without the ImageNet weights.
# name                      label        image_size  epochs   (the CPU budget: 192 px fits two runs side by side)
PLAN_CPU="
efficientnet_lite0          pretrained   192         15
efficientnet_lite0          scratch      192         15
unet_efficientnet_lite0     pretrained   192         15
unet_efficientnet_lite0     scratch      192         15
efficientnet_lite1          pretrained   192         15
efficientnet_lite2          pretrained   192         15
"
# The paper budget (224 px for the classifiers, 256 px for the U-Net, 50 epochs), for a machine with a GPU.
PLAN_GPU="
efficientnet_lite0          pretrained   224         50
efficientnet_lite0          scratch      224         50
efficientnet_lite1          pretrained   224         50
efficientnet_lite1          scratch      224         50
efficientnet_lite2          pretrained   224         50
efficientnet_lite2          scratch      224         50
unet_efficientnet_lite0     pretrained   256         50
unet_efficientnet_lite0     scratch      256         50
"

# One function, called on the last line: bash reads a script as it runs it, so an edit to this file while a
# plan is running must not change what the running copy does next.
main() {
    # shellcheck source=leaderboard/plan_lib.sh
    source leaderboard/plan_lib.sh
    local plan
    case "$BUDGET" in
        cpu) plan=$PLAN_CPU ;;
        gpu) plan=$PLAN_GPU ;;
        *) echo "run_references.sh: BUDGET must be cpu or gpu, not '$BUDGET'" >&2; exit 2 ;;
    esac
    want=" $* "
    echo "$plan" | while read -r name label size epochs; do
        [[ -z "$name" ]] && continue
        [[ $# -gt 0 && "$want" != *" $name-$label "* ]] && continue
        local pretrained=--pretrained
        [[ "$label" == scratch ]] && pretrained=--no-pretrained
        run_plan_line "$name-$label-$BUDGET" "$name" "$SPLIT" "$size" "$epochs" "$pretrained"
    done
}
main "$@"; exit
