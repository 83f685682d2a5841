FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY panel_service ./panel_service
COPY workers ./workers
COPY config ./config
RUN pip install --no-cache-dir . && useradd --create-home panel
USER panel
ENV PANEL_INSTANCE_PATH=/home/panel/instance
EXPOSE 8000
CMD ["gunicorn", "-c", "python:config.gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "panel_service:create_app()"]
