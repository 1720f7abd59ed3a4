"""micronas: hardware-aware neural architecture search for time-series classification on MCUs."""

__version__ = "0.1.0"
