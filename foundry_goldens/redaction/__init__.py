"""Redaction: the secret rules, the Redactor, and the log filter that applies it."""
