"""Munukurthi & Gayathri 2024 (seed 004): U-Net segmentation, then classification of the segmented image.

``munukurthi2024_unet`` is the paper's U-Net alone (segmentation); ``munukurthi2024_cnn``, ``munukurthi2024_vgg19``
and ``munukurthi2024_mobilenet`` are the two-stage systems (the U-Net, then the paper's classifier on the image
masked by the U-Net's prediction).
"""

from . import classifiers, segmentation  # noqa: F401  (importing registers the models)
