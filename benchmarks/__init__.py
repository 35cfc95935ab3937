"""perfkit's benchmarks (scripts, not part of the package)."""
