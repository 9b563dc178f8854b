"""Users, teams, roles and permissions, sessions (JWT + refresh), API keys and the audit log."""
