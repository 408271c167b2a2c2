"""The trace store: a run directory with per-process journals, npy payloads and a Parquet index."""
