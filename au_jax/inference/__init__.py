"""Inference on media: face tracking table, decode|faces|predict pipeline, plots, demo media."""
