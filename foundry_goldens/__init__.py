"""foundry-goldens: record and replay golden conversations for an AI GO! <-> Foundry agent."""

# The one place the version is written: pyproject.toml reads it (setuptools `attr`, without
# importing the package), the release workflow checks the tag against the built wheel's, and
# `init` pins the scaffolded project's install to it.
__version__ = "0.1.0"
