"""Speed and footprint benchmarks of the real bot, each beside a floor measured in the same run."""
