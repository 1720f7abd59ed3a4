"""Retraining a found architecture from scratch (docs/method.md §9)."""
