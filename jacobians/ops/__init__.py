"""One module per operator family; each ends with its ``register(...)`` lines.

Importing :mod:`jacobians.registry` and calling ``load_all()`` imports every
module here (modules whose names start with ``_`` are helpers).
"""
