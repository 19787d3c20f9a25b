"""The pure core: models and business rules, no I/O."""
