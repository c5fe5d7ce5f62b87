# Mobility Bot: the same steps as the Makefile (install, compile catalogs, run).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOT_DATABASE=/data/mobility.sqlite3 \
    PYTHONTZPATH=""

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The package; building it compiles locales/*.po into bot/locales/*.mo (see setup.py).
COPY setup.py MANIFEST.in README.md babel.cfg ./
COPY bot ./bot
COPY locales ./locales
COPY data ./data
RUN pip install --no-deps . \
    && python -c "from bot.i18n import Catalogs; Catalogs()"

RUN useradd --create-home --uid 10001 mobility \
    && mkdir -p /data \
    && chown mobility:mobility /data
USER mobility
VOLUME ["/data"]

# Database opens and migrates, catalogs load, and with a token getMe answers.
HEALTHCHECK --interval=60s --timeout=20s --start-period=20s --retries=3 \
    CMD ["python", "-m", "bot", "check"]

CMD ["python", "-m", "bot", "run"]
