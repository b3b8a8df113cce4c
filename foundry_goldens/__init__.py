"""foundry-goldens: record and replay golden conversations for an AI GO! <-> Foundry agent."""
