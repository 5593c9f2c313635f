"""Files in and out, around the core: photos (``images``: any format in, atomic writes out) and the
Kaggle dataset (``kaggle``: credentials, a safe download)."""
