"""Data audits: duplicate detection and the checks that report on a dataset before it is benchmarked."""
