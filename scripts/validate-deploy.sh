#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine: docker-compose 1.29's
# schema check and variable interpolation (Python, from PyPI, in a cached venv),
# with the defaults and with .env.example, for the default and split profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FOLIO_COMPOSE_VENV:-$HOME/.cache/folio-compose-venv}"
if [ ! -x "$venv/bin/docker-compose" ]; then
  python3 -m venv "$venv"
  # docker-compose 1.29 pins PyYAML<6, which no longer builds; 6 works for `config`.
  "$venv/bin/pip" install -q "PyYAML>=6" "jsonschema>=2.5.1,<4" "docopt>=0.6.1" \
    "python-dotenv>=0.13,<1" "requests>=2.20,<3" "texttable>=0.9,<2" \
    "websocket-client>=0.32,<1" "docker>=5,<6" "distro>=1.5,<2" "dockerpty>=0.4.1,<1" "setuptools<70"
  "$venv/bin/pip" install -q --no-deps docker-compose==1.29.2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp docker-compose.yml "$work/"
mkdir -p "$work/deploy" && cp deploy/Dockerfile "$work/deploy/"
for env_file in none .env.example; do
  rm -f "$work/.env"
  [ "$env_file" = none ] || cp "$env_file" "$work/.env"
  for profile in default split llm; do
    (cd "$work" && "$venv/bin/docker-compose" --profile "$profile" config -q)
  done
done
services="$(cd "$work" && "$venv/bin/docker-compose" config --services | sort | tr '\n' ' ')"
[ "$services" = "folio folio-ingest folio-query ollama postgres qdrant " ] || { echo "unexpected services: $services" >&2; exit 1; }
echo "docker-compose.yml: valid (defaults and .env.example; profiles default, split, llm)"

# Kubernetes manifests (kustomize): schema validation with kubernetes-models from npm.
npm ci --prefix deploy/kubernetes --no-audit --no-fund --silent
node deploy/kubernetes/validate.mjs
