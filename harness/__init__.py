"""Record/replay machinery for the AI GO! <-> Azure AI Foundry integration."""
