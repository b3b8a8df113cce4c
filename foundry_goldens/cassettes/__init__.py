"""Cassettes: the readable YAML format, the sanitizer, vcrpy's record/replay setup, the router."""
