"""Loopback fakes of external services that ship with the package: the demo runs on them,
and the test suite and benchmarks use the same ones."""
