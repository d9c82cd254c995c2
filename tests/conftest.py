import os

# Spark and its Python workers must use this interpreter and a loopback address.
import sys

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

pytest_plugins = ["tests.fixtures.aws"]
