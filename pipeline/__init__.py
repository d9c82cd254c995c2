"""Orchestration: the pipeline that runs itself.

- ``statemachine.asl.json``: the state machine (crawl, plan, validate, publish, load, finish), run by
  Step Functions in AWS and by ``datalake/local/stepfunctions.py`` locally;
- ``tasks``: its Task handlers (one Lambda each); ``steps``: the work they do, as plain functions;
- ``trigger``: the catalog stream's change marker and the run starter; ``schedule``: one-shot wake-ups;
- ``lease``: at most one run per dataset; ``runs``: run records; ``manual``: the CLI's manual runs.
"""
