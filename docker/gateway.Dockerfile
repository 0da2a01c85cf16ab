# The gateway and the action server (one image, two commands; see docker-compose.yml).
FROM python:3.10-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, pinned, so that code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY constraints/project.txt constraints/project.txt
RUN mkdir -p vetrina channels integrations actions \
 && touch vetrina/__init__.py channels/__init__.py integrations/__init__.py actions/__init__.py \
 && pip install -c constraints/project.txt . \
 && pip uninstall -y vetrina

COPY vetrina vetrina
COPY channels channels
COPY integrations integrations
COPY actions actions
RUN pip install --no-deps -c constraints/project.txt . \
 && useradd --system --uid 10001 vetrina
USER vetrina

ENV VETRINA_HOST=0.0.0.0 VETRINA_PORT=8080 VETRINA_ENV=production VETRINA_LOG_FORMAT=json
EXPOSE 8080
# Every instance migrates on start: PostgreSQL's advisory lock makes the first one do
# it and the others wait, then find nothing to do.
CMD ["sh", "-c", "vetrina migrate && exec vetrina serve"]
