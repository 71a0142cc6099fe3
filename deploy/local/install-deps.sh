#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) for the local GridLoop stack. Safe to run again:
# apt-get runs only when something is missing, and Maven only downloads jars it does not have.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then missing+=(openjdk-17-jre-headless); fi
command -v mvn >/dev/null || missing+=(maven)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v prometheus >/dev/null || missing+=(prometheus)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The case-page browser test drives Debian's chromium through Playwright (Playwright's own browsers cannot be fetched).
command -v chromium >/dev/null || missing+=(chromium)
# Pages, screenshots and report charts show Chinese: without a CJK font every character renders as an empty box.
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
# The browser's own words (file pickers, date inputs) in Chinese in the consoles' tests and screenshots (--lang=zh-CN).
dpkg -s chromium-l10n >/dev/null 2>&1 || missing+=(chromium-l10n)
# Alerts reach a person through Alertmanager, started beside Prometheus by the local stack.
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # No recommends: they would add exporters and services that we do not run.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: java, maven, postgresql-15, prometheus, alertmanager, python3-venv, chromium (with its Chinese) and a CJK font are present"
fi

# Warm the local Maven repository with the Kafka jars, so `gridloop stack up` only copies them.
echo "install-deps: resolving Kafka jars (deploy/kafka/pom.xml)"
started=$SECONDS
log="${GRIDLOOP_HOME:-.gridloop}/logs/maven-install.log"
mkdir -p "$(dirname "$log")"
if ! mvn -B -Dstyle.color=never -f deploy/kafka/pom.xml dependency:resolve >"$log" 2>&1; then
  tail -n 40 "$log"
  echo "install-deps: Maven could not resolve the Kafka jars (full log: $log)" >&2
  exit 1
fi
echo "install-deps: Kafka jars ready in $((SECONDS - started))s"
