"""Examples for hpo: a user's own model factory (custom_model.py) and a small text data set."""
