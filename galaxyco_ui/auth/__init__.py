"""Identity and access: passwords, tokens, sessions, TOTP, OAuth, roles and permissions."""
