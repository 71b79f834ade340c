# The bot's image, for docker-compose.yml on a VPS, Render and Railway. Python as in
# .python-version; slim is enough, every locked requirement comes as a wheel.
FROM python:3.11-slim

# The code is in /app, imported from there only (PYTHONSAFEPATH: never from the working
# directory, which the bot can write to); no .pyc files written beside root-owned code; logs
# reach `docker logs` as they are written; pip keeps no cache and stays quiet about root.
ENV PYTHONPATH=/app \
    PYTHONSAFEPATH=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The locked requirements before the code, so that a change of code alone reuses this layer;
# every package is checked against its hash in requirements.txt.
COPY requirements.txt /app/requirements.txt
RUN pip install --require-hashes -r /app/requirements.txt

COPY bot /app/bot
COPY cogs /app/cogs
# Only for the version /status shows.
COPY pyproject.toml /app/pyproject.toml

# The bot runs unprivileged; the code stays root's. Its working directory /data is where the
# SQLite file goes when DATABASE_URL is not set (mount a volume there to keep it).
RUN groupadd --gid 10001 posebot \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin posebot \
    && install -d -o posebot -g posebot /data
WORKDIR /data
USER 10001:10001

# SIGTERM starts the bot's graceful shutdown, which takes up to 25 s: give it 30
# (`stop_grace_period` in docker-compose.yml, `docker stop -t 30`).
STOPSIGNAL SIGTERM
# The configuration and the database, as the bot sees them (no call to Discord or Segmind).
HEALTHCHECK --interval=1m --timeout=30s --start-period=1m --retries=3 \
    CMD ["python", "-m", "bot", "check", "--offline"]
CMD ["python", "-m", "bot"]
