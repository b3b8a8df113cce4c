"""The one error golden_diff raises: its message names the revision and path and says what to do."""


class GoldenDiffError(Exception):
    """A golden diff cannot be computed (bad ref, missing or unparsable file, not a git repo)."""
