-- Migration 12 holds the spend ledger; this empty part keeps the numbers without a gap until
-- it is in place (then this file goes).
SELECT 1;
