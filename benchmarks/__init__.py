"""Benchmarks for binmon (``make bench`` runs ``benchmarks/run.py``).

Not part of the installed package: the modules here are run from the
repository root, as ``python benchmarks/run.py`` or ``python -m benchmarks.X``.
"""
