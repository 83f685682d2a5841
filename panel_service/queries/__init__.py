"""The query layer: SQL built from domain rules over the models (``domain`` stays pure)."""
