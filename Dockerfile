# Priemnaya: one image for every role (all, intake, worker).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
ENV DATA_DIR=/data PATH="/app/.venv/bin:$PATH"
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
