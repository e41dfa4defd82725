"""The five seed papers: full citations, protocol defaults, and which busbench submission re-implements each system.

Citations come from the headers of ``shared/seeds/00N_*.txt`` (Dajam 2025's text names no venue; its venue, IJACSA
16(5), is from ``shared/reference/seed_protocols.md``; Munukurthi 2024's text names none at all). Protocol defaults
are the per-paper findings of ``seed_protocols.md`` ("Issues that apply across papers"), in the vocabularies of
:mod:`benchmark.reports.published`; the rules there refine them per row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedPaper:
    """One seed paper: its citation and the protocol it used, as far as its text says.

    Attributes:
        key: Prefix of its submissions' names (``cheyi2024``).
        citation: Full reference.
        split: Default ``split`` flag of its own rows.
        augmentation_timing: Default ``augmentation_timing`` flag.
        mask_in_input: Default ``mask_in_input`` flag of its classification rows.
        selection_on_test: Default ``selection_on_test`` flag.
    """

    key: str
    citation: str
    split: str
    augmentation_timing: str
    mask_in_input: str
    selection_on_test: str


PAPERS: dict[str, SeedPaper] = {
    "000_d60307e705147af6.txt": SeedPaper(
        "cheyi2024",
        "Cheyi, J., & Çetin-Kaya, Y. (2024). Advanced CNN-Based Classification and Segmentation for Enhanced Breast "
        "Cancer Ultrasound Imaging. GU J Sci, Part A, 11(4), 647-667. doi:10.54287/guj.1529857",
        # Classifier split never given (only the U-Net's 80/20); enhancement + overlay applied to "the BUSI dataset"
        # (L144, L187); mask overlay in the "with" conditions (per row below); selection never described.
        split="not_stated", augmentation_timing="before_split_possible", mask_in_input="yes",
        selection_on_test="unknown"),
    "001_f4deebaad84cd354.txt": SeedPaper(
        "baniadam2021",
        "Baniadam Dizaj, S., & Valizadeh, P. (2021). Breast cancer segmentation and classification in ultrasound "
        "images using convolutional neural network. Research Square (preprint). doi:10.21203/rs.3.rs-952669/v1",
        # "80% and 20% of auto-shuffled data" and "10-fold cross validation" (L96 vs L167); augmentation timing not
        # stated relative to the split (L83); "we feed CNNs with the original image and mask images" (L103);
        # "the better-acting version at the validation set became selected" (L85).
        split="contradictory", augmentation_timing="not_stated", mask_in_input="unclear", selection_on_test="no"),
    "002_d1a981831c73dce0.txt": SeedPaper(
        "dajam2025",
        "Dajam, D. S., & Qahmash, A. (2025). Breast Cancer Classification and Segmentation Using Deep Learning on "
        "Ultrasound Images. International Journal of Advanced Computer Science and Applications (IJACSA), 16(5).",
        # Split never stated (confusion matrices total 155 images); "during training" (L235) but Fig. 6 shows
        # augmented "training and validation" data; classifier "takes a preprocessed ultrasound image" (L79);
        # hyper-parameters "tuned empirically" (L83) with no separate test set.
        split="not_stated", augmentation_timing="ambiguous", mask_in_input="no", selection_on_test="likely"),
    "003_3ea90fc1c92f7392.txt": SeedPaper(
        "li2025",
        "Li, L., Niu, Y., Tian, F., & Huang, B. (2025). An efficient deep learning strategy for accurate and "
        "automated detection of breast tumors in ultrasound image datasets. Front. Oncol. 14:1461542. "
        "doi:10.3389/fonc.2024.1461542",
        # 11:1:3 (classification) and 12:3 (segmentation) splits, drawing not described; augmentation also "to
        # balance the dataset" (L67/L73); "label overlay" (L63); selection set per row (validation vs test).
        split="single_split", augmentation_timing="before_split_possible", mask_in_input="yes",
        selection_on_test="unknown"),
    "004_66c777c67843272f.txt": SeedPaper(
        "munukurthi2024",
        "Munukurthi, B., & Gayathri, G. V. (2024). Deep Learning Approach for Tumor Segmentation in Breast Cancer. "
        "Venue not named in the text (submitted 10/03/2024, revised 25/04/2024, accepted 02/05/2024).",
        # Shuffled 90/10 train_test_split (L142); augmentation "to expand the training dataset" (L83); classifiers
        # see U-Net-segmented images, ground truth or predicted not said (L9, L23); checkpoint on "validation" loss
        # with no validation set besides the 78 test images (L146).
        split="single_random_split", augmentation_timing="training_only", mask_in_input="unclear",
        selection_on_test="likely"),
}

#: (paper key, task, model as the source writes it) -> busbench submission that re-implements the system.
SYSTEMS: dict[tuple[str, str, str], str] = {
    ("cheyi2024", "classification", "Proposed Model (custom CNN)"): "cheyi2024_cnn",
    ("cheyi2024", "classification", "VGG16"): "cheyi2024_vgg16",
    ("cheyi2024", "classification", "VGG19"): "cheyi2024_vgg19",
    ("cheyi2024", "classification", "DenseNet121"): "cheyi2024_densenet121",
    ("cheyi2024", "classification", "EfficientNetB0"): "cheyi2024_efficientnetb0",
    ("cheyi2024", "classification", "MobileNet"): "cheyi2024_mobilenet",
    ("cheyi2024", "classification", "InceptionV3"): "cheyi2024_inceptionv3",
    ("cheyi2024", "classification", "Inceptionv3"): "cheyi2024_inceptionv3",
    ("cheyi2024", "classification", "Xception"): "cheyi2024_xception",
    ("cheyi2024", "classification", "ResNet50"): "cheyi2024_resnet50",
    ("baniadam2021", "classification", "VGG-16"): "baniadam2021_vgg16",
    ("baniadam2021", "classification", "ResNet-50"): "baniadam2021_resnet50",
    ("baniadam2021", "classification", "DenseNet-161"): "baniadam2021_densenet161",
    ("baniadam2021", "classification", "AlexNet"): "baniadam2021_alexnet",
    ("baniadam2021", "segmentation", "U-Net"): "baniadam2021_unet",
    ("dajam2025", "classification", "Custom CNN"): "dajam2025_cnn",
    ("dajam2025", "classification", "VGG16"): "dajam2025_vgg16",
    ("dajam2025", "classification", "InceptionV3"): "dajam2025_inceptionv3",
    ("dajam2025", "classification", "MobileNet"): "dajam2025_mobilenet",
    ("dajam2025", "segmentation", "MobileNet-encoder U-Net"): "dajam2025_unet_mobilenet",
    ("li2025", "classification", "DeepCardinal-50"): "li2025_deepcardinal50",
    ("li2025", "classification", "DeepCardinal-50 (best)"): "li2025_deepcardinal50",
    ("li2025", "classification", "ResNet34"): "li2025_resnet34",
    ("li2025", "classification", "ResNet34 with pre-training"): "li2025_resnet34",
    ("li2025", "classification", "ResNet50"): "li2025_resnet50",
    ("li2025", "classification", "ResNet-50"): "li2025_resnet50",
    ("li2025", "classification", "AlexNet"): "li2025_alexnet",
    ("li2025", "segmentation", "U2NET-Lite"): "li2025_u2netlite",
    ("munukurthi2024", "classification", "CNN (custom)"): "munukurthi2024_cnn",
    ("munukurthi2024", "classification", "VGG19"): "munukurthi2024_vgg19",
    ("munukurthi2024", "classification", "MobileNet"): "munukurthi2024_mobilenet",
}

_BACKBONE_SEGMENTER = ("no submission: the paper does not describe how this classification backbone produces a "
                       "segmentation")

#: Systems of a seed paper with no submission, and why (shown in the ledger's ``busbench_notes``).
NO_SUBMISSION: dict[tuple[str, str, str], str] = {
    ("baniadam2021", "classification", "U-Net"): "no submission: the paper never says how a class comes out of a "
                                                 "U-Net (a segmentation network) reported as a classifier",
    ("baniadam2021", "segmentation", "VGG-16"): _BACKBONE_SEGMENTER,
    ("baniadam2021", "segmentation", "ResNet-50"): _BACKBONE_SEGMENTER,
    ("baniadam2021", "segmentation", "DenseNet-161"): _BACKBONE_SEGMENTER,
    ("baniadam2021", "segmentation", "AlexNet"): _BACKBONE_SEGMENTER,
    ("li2025", "segmentation", "U2NET"): "no submission: only the paper's U2NET-Lite is re-implemented "
                                         "(li2025_u2netlite), not the full U2NET it compares against",
}

#: Submissions whose paper publishes no number to compare with, and why (the seeds report lists the registered ones).
NO_PUBLISHED_METRIC: dict[str, str] = {
    "cheyi2024_unet": "the paper reports no segmentation metric for its U-Net",
    "munukurthi2024_unet": "the paper reports no segmentation metric for its U-Net, only loss curves (Fig. 7)",
}
