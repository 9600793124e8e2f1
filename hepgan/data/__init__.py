"""Preprocessing and datasets between shower files and the networks."""
