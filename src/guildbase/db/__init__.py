"""Database machinery shared by every domain: engines, sessions, types, mixins, errors."""
