# Vigil's Airflow image: the official Apache Airflow image plus exactly the dependency
# versions in uv.lock, and Vigil's code. Used by docker-compose.yaml; the same image runs
# under the official Airflow Helm chart.
#
# Not built on the machines this was written on (they have no Docker engine):
# tests/unit/test_compose.py checks what can be checked without one.

# Keep in step with apache-airflow in pyproject.toml (the compose test compares them).
FROM apache/airflow:3.3.2-python3.11

ARG UV_VERSION=0.13.9

USER airflow
WORKDIR /opt/airflow

# The lock, turned into a hashed requirements list by the uv that wrote it; then pip
# installs it over the image's Airflow (same version) as the official docs recommend.
COPY --chown=airflow:root pyproject.toml uv.lock /tmp/vigil/
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && cd /tmp/vigil \
 && uv export --frozen --no-dev --no-emit-project --format requirements-txt \
      --output-file /tmp/vigil/requirements.txt \
 && pip install --no-cache-dir -r /tmp/vigil/requirements.txt \
 && pip uninstall -y uv \
 && rm -rf /tmp/vigil \
 && mkdir -p /opt/airflow/vigil-state /opt/airflow/secrets \
 && chmod 775 /opt/airflow/vigil-state /opt/airflow/secrets

# (Empty named volumes mounted on vigil-state and secrets take these folders' owner: the
# airflow user, group root, group-writable, as the official image expects of any UID.)

# Vigil itself is plain source on PYTHONPATH (compose mounts the same folders over these,
# so edits show without a rebuild).
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root demo/ /opt/airflow/demo/
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root expectations/ /opt/airflow/expectations/

ENV PYTHONPATH=/opt/airflow/include:/opt/airflow \
    VIGIL_SPECS_DIR=/opt/airflow/include/specs \
    VIGIL_STATE_DIR=/opt/airflow/vigil-state \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
