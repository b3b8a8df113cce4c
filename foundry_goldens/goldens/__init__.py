"""Goldens: dialogues and their expectations, normalization, snapshots, publishing."""
