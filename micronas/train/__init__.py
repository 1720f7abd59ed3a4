"""Retraining a found architecture from scratch (METHOD.md section 9)."""
