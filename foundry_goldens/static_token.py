"""The fake bearer token of tests and replay: what snippet/credentials.py's StaticTokenCredential
hands every credential on replay, and what the emulator accepts besides the tokens its Entra ID
stand-in issues. Here, below both, so the emulator needs nothing of the harness."""

STATIC_TEST_TOKEN = "static-test-token"  # deliberately fake, not a secret
