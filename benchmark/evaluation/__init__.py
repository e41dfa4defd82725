"""Scoring predictions against the ground truth the evaluator holds: trained runs and predictions-only submissions."""
