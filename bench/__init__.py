"""guildbase's benchmark harness: ``python -m bench [--quick]`` (see BENCHMARKS.md and docs/performance.md)."""
