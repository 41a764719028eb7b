"""Loopback fakes of the services hee-monitor talks to (GitHub, Ollama, SMTP, webhooks)."""
