"""Training: samples, scalers, architectures, losses, the input pipeline, fits, reports, sweeps."""
