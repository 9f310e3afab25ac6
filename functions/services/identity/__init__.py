"""Identity: who is acting (operators, API keys, subscribers), their roles and their tenant scope."""
