"""The formats of predictions handed to ``busbench evaluate`` (a leaf module: it imports nothing).

* Classification: one CSV file with the header ``case_id,fold,prob_normal,prob_benign,prob_malignant`` (the file a
  trained run writes per fold; column names are matched case-insensitively, extra columns are ignored), or
  ``case_id,fold,prob_benign,prob_malignant`` for a split that scores benign vs malignant (its file records the
  classes: BUS-BRA, BUSI without normals). Each row holds one probability per class in [0, 1], summing to 1
  within ``PROB_SUM_TOLERANCE`` (1e-3); they are not renormalised.
* Segmentation: one folder holding ``predictions.csv`` with the header ``case_id,fold`` and one binary PNG mask
  ``<case_id>.png`` per row, at the image's original size. A mask must be binary: 0/1 or 0/255 (in any channel
  layout; ``benchmark.data.images.decode_binary_mask``); a mask with other values (a probability map) is an
  error, never thresholded silently.
  Other files in the folder (not ``.png``, not ``predictions.csv``) are ignored.

The readers are in :mod:`benchmark.evaluation.predictions`; ``busbench evaluate`` is
:mod:`benchmark.evaluation.evaluate`.
"""

#: The CSV inside a segmentation predictions folder that says which fold each mask was predicted in.
SEGMENTATION_CSV = "predictions.csv"
#: Its header.
SEGMENTATION_HEADER = ("case_id", "fold")
