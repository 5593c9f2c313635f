"""Files in and out, around the core: photos in (``images``: any format decoded, with ``diagnose``
wording what is wrong with a bad file), files out (``files``: the 8-bit conversion, image encoding,
atomic writes, output folders) and the Kaggle dataset (``kaggle``: a safe download;
``kaggle_credentials``: credentials found, never printed)."""
