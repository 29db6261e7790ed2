# One image for the three services and the portal; the command chooses the service and the process kind.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY schemas ./schemas
RUN pip install .
RUN useradd --create-home clusnet
USER clusnet
EXPOSE 8000 8001 8002 8003
CMD ["clusnet", "--help"]
