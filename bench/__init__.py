"""Benchmarks. Run all with `make bench`; results go into docs/benchmarks.md by hand."""
