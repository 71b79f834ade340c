-- The old tables go once their images have moved; the indexes of the new ones, and what ended
-- jobs no longer need (their token, the API's URLs).
DROP TABLE job_images_before_9;
DROP TABLE characters_before_9;
CREATE INDEX characters_by_guild ON characters (guild_id, shared);
CREATE INDEX characters_by_image ON characters (image_sha256);
CREATE INDEX job_images_by_image ON job_images (sha256);
CREATE INDEX job_images_by_uploader ON job_images (uploaded_by);
CREATE INDEX jobs_by_use ON jobs (state, used_at);
UPDATE jobs SET used_at = finished_at WHERE state = 'delivered';
UPDATE jobs SET token = '', status_url = NULL, response_url = NULL
    WHERE state IN ('delivered', 'failed', 'cancelled');
