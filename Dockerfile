# One image for every Omnigate deployable: the chart runs `omnigate serve <name>` in it.
# (Not built in this repository's CI: no container engine runs there. `docker build -t omnigate .` builds it.)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
COPY estate ./estate
RUN python -m venv /opt/omnigate && /opt/omnigate/bin/pip install --no-cache-dir .

FROM python:3.11-slim
COPY --from=build /opt/omnigate /opt/omnigate
ENV PATH=/opt/omnigate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMNIGATE_DATA_DIR=/var/lib/omnigate
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin omnigate
USER 10001
EXPOSE 8000
ENTRYPOINT ["omnigate"]
CMD ["--help"]
