"""The data's settings: which set, where it is, how it is split, what the task is."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from orchestrator.config._base import _Strict


class MNIST1DConfig(_Strict):
    """How MNIST-1D is generated: the published settings (Greydanus & Kobak, 2024) by default."""

    num_samples: int = Field(default=5000, ge=20)  # 500 per class
    train_split: float = Field(default=0.8, gt=0, lt=1)  # first 4000 train, last 1000 test
    template_len: int = Field(default=12, gt=0)  # points in each digit's template
    padding: tuple[int, int] = (36, 60)  # random zero padding before resampling, (low, high)
    scale_coeff: float = Field(default=0.4, ge=0)  # random scaling amplitude
    max_translation: int = Field(default=48, ge=0)  # random shift, in steps before resampling
    corr_noise_scale: float = Field(default=0.25, ge=0)  # correlated (smoothed) noise
    iid_noise_scale: float = Field(default=2e-2, ge=0)  # per-step noise
    shear_scale: float = Field(default=0.75, ge=0)
    shuffle_seq: bool = False  # permute the steps (a test of spatial priors)
    final_seq_length: int = Field(default=40, gt=0)  # steps per sample
    seed: int = 42  # the generator's own seed: the published data is seed 42

    @field_validator("padding")
    @classmethod
    def _padding_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError(f"0 <= low <= high must hold, got {list(value)}")
        return value


class DataConfig(_Strict):
    """Which data, how it is read and split. Data settings are fixed for a study."""

    # a bundled set (digits, iris, wine, breast_cancer, mnist1d) or a loader (csv, npz, images)
    name: str = "digits"
    # of the whole data set; where a set has its own test split (mnist1d), of its training part
    val_fraction: float = Field(default=0.15, gt=0, lt=1)
    # held out, never used by the search; ignored where the set keeps its own test split
    test_fraction: float = Field(default=0.15, gt=0, lt=1)
    # K-fold cross-validation of every trial over the train and validation rows (stratified for
    # classes); the objective is the mean over the folds. None: the one validation split
    cv: int | None = Field(default=None, ge=2, le=20)
    normalize: bool = True  # standardize with train-split statistics
    published_split: bool = True  # mnist1d: keep the published test split (false: re-split all)
    # where generated and decoded data is cached (mnist1d, images, csv text tokenised by a
    # pretrained model); None: $HPO_CACHE_DIR, else ~/.cache/hpo
    cache_dir: str | None = None
    mnist1d: MNIST1DConfig = Field(default_factory=MNIST1DConfig)  # mnist1d generation
    # what is predicted: auto decides from the target (several 0/1 columns: multilabel; two
    # classes: binary; real numbers or more than 20 distinct whole numbers: regression; else
    # multiclass) and says what it decided
    task: Literal["auto", "multiclass", "binary", "multilabel", "regression"] = "auto"
    # binary: the class whose probability is scored (ROC AUC, F1); None: the minority class
    positive_class: str | int | bool | None = None
    # csv, npz, images: a file or folder, relative to the working directory
    path: str | None = None
    # csv
    target: str | list[str] | None = None  # the target column (required); a list: multi-label
    features: list[str] | None = None  # feature columns; None: every column but target and text
    exclude: list[str] | None = None  # columns never used as features (ids, leaks)
    categorical: list[str] | None = None  # feature columns one-hot encoded whatever they hold
    # cells read as missing, beside pandas' own (empty, NA, N/A, null, NaN, None, ...)
    missing: list[str] = Field(default_factory=lambda: ["?", "-", "--", "."])
    text: str | None = None  # a text column: makes it text classification (no other features)
    tokenizer: Literal["word", "char"] = "word"  # text: lowercase words and punctuation, or chars
    max_length: int = Field(default=64, gt=0)  # text: tokens kept per row; shorter rows padded
    min_freq: int = Field(default=1, ge=1)  # text: rarer train tokens become <unk>
    max_vocab: int = Field(default=20000, ge=2)  # text: most frequent tokens kept, incl. pad, unk
    # npz
    x_key: str = "x"  # the samples array
    y_key: str = "y"  # the labels array
    # npz: what x holds; auto: (N, F) features, (N, C, H, W) image; (N, H, W) and (N, T, F) need
    # image or sequence. Sequences are (N, T, F): T steps of F features (or (N, T) for F = 1)
    kind: Literal["auto", "image", "sequence", "features"] = "auto"
    # images: one sub-folder per class
    image_size: int = Field(default=32, gt=0)  # every image resized to size x size pixels
    color: Literal["rgb", "gray"] = "rgb"  # 3 channels, or 1
