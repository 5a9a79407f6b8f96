"""The service: what the HTTP API and the CLI call on a registry (parties, rulebooks, ...)."""
