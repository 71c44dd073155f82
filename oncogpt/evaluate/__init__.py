"""Evaluation: per-item metrics, bootstrap statistics and run-comparison reports."""
