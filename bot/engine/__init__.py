"""The job engine: runs stored jobs, in any number of processes sharing one database."""
