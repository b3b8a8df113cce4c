"""The snippet seam: loading run_inference.py by path, its credential, driving it turn by turn."""
