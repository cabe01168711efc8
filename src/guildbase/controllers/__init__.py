"""Controllers: the business rules, one module per domain (same names as ``models/``)."""
