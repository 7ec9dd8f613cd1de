# One image for every role of the stack (migrate, web, worker, beat): see docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt requirements-atlases.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-atlases.txt
COPY . .
RUN useradd --create-home neurodrop \
    && mkdir -p /data/storage /data/instance \
    && chown -R neurodrop /data \
    && chmod +x scripts/serve-prod.sh
USER neurodrop
ENV HOST=0.0.0.0 PORT=8000 STORAGE_DIR=/data/storage INSTANCE_DIR=/data/instance
EXPOSE 8000
CMD ["scripts/serve-prod.sh", "web"]
