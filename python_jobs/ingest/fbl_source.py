"""Where the FBL files come from: --dir, $KARL_FBL_DIR, else a download of the authors' public
repository (okamoto-lab/fbl_dataset) into the user cache; and which files they are."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from python_jobs.errors import KarlError

FBL_REPOSITORY = "okamoto-lab/fbl_dataset"
FBL_COMMIT = "f411344bedf566b3c7bbfe4648319507a61b1a19"  # the commit the files were last changed in
FBL_RAW_BASE_URL = f"https://raw.githubusercontent.com/{FBL_REPOSITORY}/{FBL_COMMIT}"
DOWNLOAD_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class FblFile:
    dataset: str  # file stem: FBL2023 | FBL2024
    label_scheme: str
    labels: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return f"{self.dataset}.tsv"


FBL_FILES: tuple[FblFile, ...] = (
    FblFile("FBL2023", "fbl9", tuple(str(code) for code in range(1, 10))),
    FblFile("FBL2024", "relation3", ("1", "2", "3")),
)


class FblSourceError(KarlError):
    """The FBL files could not be found or downloaded."""


def how_to_provide_files() -> str:
    return (
        f"Provide the files yourself: `git clone https://github.com/{FBL_REPOSITORY}` (or download "
        "FBL2023.tsv and FBL2024.tsv from it), then run `karl ingest fbl --dir <that folder>` or set "
        "KARL_FBL_DIR=<that folder>."
    )


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "karl" / "fbl_dataset"


def download_fbl(
    destination: Path, base_url: str = FBL_RAW_BASE_URL, timeout: float = DOWNLOAD_TIMEOUT_SECONDS
) -> Path:
    """Fetch the two files from the public repository into `destination` (skips files present)."""
    destination.mkdir(parents=True, exist_ok=True)
    for spec in FBL_FILES:
        target = destination / spec.file_name
        if target.exists():
            continue
        url = f"{base_url}/{spec.file_name}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
                data = response.read()
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise FblSourceError(
                f"Could not download {spec.file_name} from {url} ({error}). No --dir was given and "
                f"KARL_FBL_DIR is not set, so karl tried the public repository. {how_to_provide_files()}"
            ) from error
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)
    return destination


def resolve_fbl_dir(directory: Path | None, base_url: str = FBL_RAW_BASE_URL) -> Path:
    """--dir, else $KARL_FBL_DIR, else a download into the user cache."""
    if directory is None and os.environ.get("KARL_FBL_DIR"):
        directory = Path(os.environ["KARL_FBL_DIR"])
    if directory is not None:
        directory = directory.expanduser()
        if not any((directory / spec.file_name).exists() for spec in FBL_FILES):
            names = " or ".join(spec.file_name for spec in FBL_FILES)
            raise FblSourceError(f"No {names} in {directory}. {how_to_provide_files()}")
        return directory
    return download_fbl(default_cache_dir(), base_url=base_url)
