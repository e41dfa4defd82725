"""Reports built from facts: the curated ledger of published BUSI results and the seed-paper comparison."""
