"""Infrastructure: database engine, Redis, logging, Sentry, mail, rate limits."""
