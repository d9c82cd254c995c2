"""Orchestration: the pipeline's steps (crawl, validate, load) as plain functions.

The same functions run as the state machine's tasks in AWS and under the local runtime.
"""
