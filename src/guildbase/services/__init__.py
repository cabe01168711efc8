"""Redis-backed services: everything here can be rebuilt from PostgreSQL."""
