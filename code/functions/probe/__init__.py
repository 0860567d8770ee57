"""Small functions that probe what the engine does; used by the conformance suite and benchmarks."""
