"""The base error every area's errors derive from. Messages name the offending value and the fix."""


class DataLakeError(Exception):
    """Base error of the service's own plumbing."""
