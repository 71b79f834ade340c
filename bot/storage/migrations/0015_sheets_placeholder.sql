-- Migration 15 belongs to the character sheets; this empty part keeps the numbers without a gap.
SELECT 1;
