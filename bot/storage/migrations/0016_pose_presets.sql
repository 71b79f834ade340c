-- A job's expression and camera presets (bot/domain/presets.py); NULL: none chosen.
ALTER TABLE jobs ADD COLUMN expression TEXT;
ALTER TABLE jobs ADD COLUMN camera TEXT;
