"""Where a validation run reads and writes: a local directory or an S3 prefix, addressed by URI.

The split runs one code path in both places; only the URI scheme differs (``file://`` or a plain
path locally, ``s3://`` on the Glue cluster). pyarrow's filesystems do the driver-side I/O (listing
and renaming Spark's part files, writing the small JSON report) and Spark reads and writes the data
itself, so nothing is staged through a driver's disk.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from quality_rules.exceptions import QualityRulesError


def is_uri(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def s3_filesystem(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """pyarrow's S3 filesystem for an explicit endpoint (moto) or region; None means "AWS, region of
    the bucket" (``Store.at`` resolves it). Credentials: the default chain (Glue's or Lambda's role)."""
    import os

    import pyarrow.fs as pafs

    # The SDKs' own variables name a local endpoint (moto) the same way for boto3 and for us.
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint_url:
        return pafs.S3FileSystem(region=region) if region else None
    import boto3

    creds = boto3.Session().get_credentials()
    frozen = creds.get_frozen_credentials() if creds else None
    url = urlparse(endpoint_url)
    # An emulated endpoint takes any credentials, but unsigned requests are anonymous (access denied):
    # with none in the environment, sign with the same placeholders as datalake_base.aws.session.
    return pafs.S3FileSystem(access_key=frozen.access_key if frozen else "local",
                             secret_key=frozen.secret_key if frozen else "local",
                             session_token=frozen.token if frozen else None,
                             region=region or "us-east-1", endpoint_override=url.netloc, scheme=url.scheme or "http")


@dataclass(frozen=True)
class Store:
    """A directory: ``fs`` (pyarrow filesystem), ``root`` (its path there), ``scheme`` for Spark URIs."""

    fs: Any
    root: str
    scheme: str  # "file" or "s3"

    @classmethod
    def at(cls, location: str | Path, *, s3_endpoint: str | None = None, region: str | None = None) -> "Store":
        import pyarrow.fs as pafs

        if not is_uri(location) or str(location).startswith("file://"):
            path = urlparse(str(location)).path if is_uri(location) else str(location)
            return cls(pafs.LocalFileSystem(), str(Path(path).resolve()), "file")
        parsed = urlparse(str(location))
        if parsed.scheme not in ("s3", "s3a"):
            raise QualityRulesError(f"output location {location!r}: scheme {parsed.scheme!r} unsupported; "
                                    "use a local path, file:// or s3://")
        root = f"{parsed.netloc}/{parsed.path.lstrip('/')}".rstrip("/")
        fs = s3_filesystem(s3_endpoint, region)
        if fs is None:  # AWS: from_uri asks S3 for the bucket's region (the job may run elsewhere)
            fs, _ = pafs.FileSystem.from_uri(f"s3://{parsed.netloc}")
        return cls(fs, root, "s3")

    def path(self, rel: str = "") -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    def uri(self, rel: str = "") -> str:
        """What Spark is given: ``file:///abs/path`` or ``s3://bucket/key``."""
        return f"file://{self.path(rel)}" if self.scheme == "file" else f"s3://{self.path(rel)}"

    def child(self, rel: str) -> "Store":
        return Store(self.fs, self.path(rel), self.scheme)

    def makedirs(self, rel: str) -> None:
        if self.scheme == "file":  # S3 has no directories
            self.fs.create_dir(self.path(rel), recursive=True)

    def files(self, rel: str, suffix: str = "") -> list[str]:
        """Relative paths (to ``rel``) of the files under ``rel``, sorted; [] when it does not exist."""
        import pyarrow.fs as pafs

        base = self.path(rel)
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted(posixpath.relpath(i.path, base) for i in infos
                      if i.type == pafs.FileType.File and i.path.endswith(suffix))

    def exists(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def move(self, rel: str, dest: "Store", dest_rel: str) -> None:
        """Rename locally; in S3 a server-side copy and delete (the bytes never reach the driver); from
        local files into S3, an upload."""
        dest.makedirs(posixpath.dirname(dest_rel))
        if self.scheme == dest.scheme:
            self.fs.move(self.path(rel), dest.path(dest_rel))
            return
        import pyarrow.fs as pafs  # local files into S3 (the in-process engine's output): copy, then delete

        pafs.copy_files(self.path(rel), dest.path(dest_rel), source_filesystem=self.fs, destination_filesystem=dest.fs)
        self.fs.delete_file(self.path(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.makedirs(posixpath.dirname(rel))
        with self.fs.open_output_stream(self.path(rel), compression=None) as out:
            out.write(data)

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.path(rel), compression=None) as f:
            return f.read()

    def delete_tree(self, rel: str = "") -> None:
        import pyarrow.fs as pafs

        target = self.path(rel)
        if self.fs.get_file_info(target).type == pafs.FileType.Directory or self.scheme == "s3":
            try:
                self.fs.delete_dir(target)
            except (FileNotFoundError, OSError):
                pass
