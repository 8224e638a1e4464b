# One image for web (gunicorn), worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* && useradd --create-home --uid 1000 app
COPY pyproject.toml ./
COPY financing ./financing
COPY compliance ./compliance
COPY treasury ./treasury
COPY loans ./loans
COPY collateral ./collateral
COPY reconciliation ./reconciliation
COPY devtools ./devtools
RUN pip install --no-cache-dir .
COPY . .
# collectstatic needs settings; a throwaway key at build time only.
RUN SECRET_KEY=build-only-collectstatic-key-0000000000000000000000000000000000 \
    DATABASE_URL=postgres://build@localhost/build python manage.py collectstatic --noinput
USER app
EXPOSE 8000
CMD ["gunicorn", "financing.wsgi", "-c", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
