"""Model registry: models, versions and their files, cards, aliases, lifecycle."""
