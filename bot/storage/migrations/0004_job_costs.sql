-- What each job costs: the price reserved when accepted, then what the API charged.
ALTER TABLE jobs ADD COLUMN cost DOUBLE PRECISION NOT NULL DEFAULT 0;
