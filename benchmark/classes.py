"""The tasks and class sets busbench scores, defined once (a leaf module: importing it imports nothing else).

A classification task is named by its class set: ``CLASSES`` (normal, benign, malignant: BUSI's) or
``BINARY_CLASSES`` (benign, malignant: data without normal images, or a split made with ``--classes
benign,malignant``). Malignant is always the last class.
"""

from __future__ import annotations

#: The tasks a submission can be of, and a run scored for.
TASKS: tuple[str, ...] = ("classification", "segmentation")
CLASSES: tuple[str, ...] = ("normal", "benign", "malignant")
BINARY_CLASSES: tuple[str, ...] = ("benign", "malignant")
#: The class sets a probability matrix can hold, by its number of columns.
CLASS_SETS: dict[int, tuple[str, ...]] = {len(CLASSES): CLASSES, len(BINARY_CLASSES): BINARY_CLASSES}
