# kathansync in a container: `docker build -t kathansync .` from a clone, then
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/repo" \
#     -e KATHAN_API_KEY -e KATHAN_USER_ID kathansync plan
# The package is built from this repository (no package index needed for kathansync itself).

# --- build: a wheel from the source tree ---------------------------------------------------------
FROM python:3.12-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --disable-pip-version-check "build>=1.2"
COPY pyproject.toml README.md ./
COPY kathansync ./kathansync
RUN python -m build --wheel --outdir /dist .

# --- run: the wheel alone, as a user without privileges ----------------------------------------
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist \
    && useradd --create-home --uid 10001 kathansync
USER 10001
# The repository is mounted here; kathansync finds kathansync.yaml from the working directory.
WORKDIR /repo
ENTRYPOINT ["kathansync"]
CMD ["--help"]
