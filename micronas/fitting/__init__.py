"""Fitting one classifier network with Lightning (`fit_classifier`), its evaluation, augmentation and
progress lines: shared by the search (derived-path scoring, the random baseline) and retraining, so that
neither imports the other."""
