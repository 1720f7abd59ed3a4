"""MLflow tracking helpers and plots."""
