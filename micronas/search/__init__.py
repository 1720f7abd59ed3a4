"""Hardware-aware DNAS and its baselines (DARTS, random search) as Lightning modules."""
