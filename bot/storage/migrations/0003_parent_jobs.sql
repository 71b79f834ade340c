-- A job made from an earlier result (Reroll, New pose) remembers which.
ALTER TABLE jobs ADD COLUMN parent_job_id BIGINT;
