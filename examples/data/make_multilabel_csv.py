"""Writes multilabel.csv beside this file: scikit-learn's multi-label generator
(``make_multilabel_classification``: each sample draws its labels, then word counts from them),
1,000 documents as counts of 20 words, each with any of 5 topics (about 2 on average).

    python examples/data/make_multilabel_csv.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import make_multilabel_classification

TOPICS = ["sport", "politics", "science", "culture", "business"]


def main() -> None:
    x, y = make_multilabel_classification(
        n_samples=1000, n_features=20, n_classes=len(TOPICS), n_labels=2, random_state=0
    )
    frame = pd.DataFrame(x.astype(int), columns=[f"word_{i:02d}" for i in range(x.shape[1])])
    for j, topic in enumerate(TOPICS):
        frame[topic] = y[:, j]
    frame.insert(0, "doc_id", [f"doc-{i:04d}" for i in range(len(frame))])
    frame.to_csv(Path(__file__).with_name("multilabel.csv"), index=False)


if __name__ == "__main__":
    main()
