#!/usr/bin/env bash
# Checks what pip cannot install: a Python 3.11+ interpreter with venv, and Java 17+ for Spark.
set -euo pipefail
py="${1:-python3}"
if ! "$py" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "error: '$py' is not Python 3.11 or newer with the venv module." >&2
  echo "       Install it (Debian/Ubuntu: apt-get install python3 python3-venv) or run 'make PYTHON=/path/to/python3.11'." >&2
  exit 1
fi
if ! command -v java >/dev/null 2>&1; then
  echo "error: Java is not installed; Spark (the validation job) needs Java 17 or newer." >&2
  echo "       Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) and run make again." >&2
  exit 1
fi
major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
  echo "error: Java ${major:-unknown} found; Spark 4 needs Java 17 or newer." >&2
  echo "       Install openjdk-17-jre-headless and point JAVA_HOME at it, then run make again." >&2
  exit 1
fi
