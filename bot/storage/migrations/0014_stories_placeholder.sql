-- Migration 14 belongs to the stories; this empty part keeps the numbers without a gap.
SELECT 1;
