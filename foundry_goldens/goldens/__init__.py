"""Goldens: dialogues and their expectations, normalization, snapshots, comparison, classifying."""
