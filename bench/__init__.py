"""Benchmarks of the operator against the project's own control plane (`make bench`).

Each figure is printed beside its floor: the same object writes issued
directly by a client, with no operator in between. See bench/README.md.
"""
