"""Analysis: turns a log into a Diagnosis (pattern database first, local LLM as fallback)."""
