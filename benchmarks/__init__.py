"""The product's measurements: run each as `python -m benchmarks.<name> --help`."""
