"""Replay: one dialogue through the snippet against its cassette, network blocked."""
