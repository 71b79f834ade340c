-- Servers whose results are shown to the requester alone.
ALTER TABLE server_settings ADD COLUMN private_results BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE;
