"""Placeholder weights (replaced by scripts/fit_answer_weights.py)."""
SENTENCE_WEIGHTS = (1.0,) + (0.0,) * 26
FOUND_MEAN = (0.0,) * 11
FOUND_SCALE = (1.0,) * 11
FOUND_WEIGHTS = (0.0,) * 11
FOUND_BIAS = 1.0
FOUND_THRESHOLD = 0.5
SELECT_MARGIN = 100.0
