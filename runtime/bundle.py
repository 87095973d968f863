"""Write, verify, publish and roll back model bundles.

A bundle is a folder ``<root>/<version>/`` holding ``model.joblib`` (the
fitted scikit-learn pipeline), ``manifest.json`` and the evaluation report.
The model file is a zlib-compressed pickle (manifest ``model_format``
``"pickle-zlib"``), which ``joblib.load`` also reads; bundles written before
2026-12-06 hold ``joblib.dump``'s format and no ``model_format``
(``runtime/legacy.py`` loads both).
The manifest lists the sha256 of every other file. ``<root>/current`` is a
symbolic link to the published version; it only ever moves, atomically, to a
bundle that is complete and verified.

Trust model: ``joblib.load`` is ``pickle.load`` and runs code. This module
unpickles a model only after every checksum in its manifest matches, so a
truncated, corrupted or partially written bundle is refused before any of its
bytes are unpickled. Checksums do not stop someone who can rewrite both the
model and its manifest: keep the models folder writable only by the trainer.
Where that is not enough, set a signing key (``TOPICS_SIGNING_KEY``) for both
training and serving: the manifest is then signed with HMAC-SHA256 and a
bundle without a valid signature is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import shutil
import tempfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

MODEL_FILE = "model.joblib"
MODEL_FORMAT = "pickle-zlib"  # the manifest's "model_format"; absent: written by joblib.dump
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
CURRENT_LINK = "current"
CANDIDATE_LINK = "candidate"
EVALUATION_FILE = "evaluation.jsonl"  # the held-out split, for the promotion gate
REFUSED_MARKER = ".refused"  # in a bundle the gate refused: never a rollback target
STAGING_PREFIX = ".staging-"
FORMAT_VERSION = 1
DEFAULT_KEEP = 5


def signing_key_from_environment() -> bytes | None:
    """The bundle signing key from ``TOPICS_SIGNING_KEY``, or None when it is not set."""
    key = os.environ.get("TOPICS_SIGNING_KEY")
    return key.encode() if key else None


class BundleError(Exception):
    """A bundle is missing, incomplete, tampered with or incompatible."""


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def make_version(model_sha256: str, now: datetime | None = None) -> str:
    """Return a version name that sorts by creation time, e.g. ``20261128T120102123Z-ab12cd34``."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{model_sha256[:8]}"


def write_model(pipeline, path: Path) -> None:
    """Write the fitted pipeline as MODEL_FORMAT: pickle protocol 5, zlib level 3.

    Not ``joblib.dump``: joblib reads its own format back through Python's
    pure-Python unpickler, 0.75 s for the default model against 0.22 s for the
    C unpickler on this format (docs/performance.md). joblib's numpy
    handling buys nothing here: the arrays are a few MB. The file stays
    readable by ``joblib.load``, which recognises zlib and plain pickles.
    """
    path.write_bytes(zlib.compress(pickle.dumps(pipeline, protocol=5), 3))


def new_staging_dir(root: Path) -> Path:
    """Create a private folder inside ``root`` to assemble a bundle in."""
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; the service may run as another user
    return staging


def sign(manifest_bytes: bytes, key: bytes) -> str:
    """Return the HMAC-SHA256 of the manifest bytes."""
    return hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()


def write_manifest(staging: Path, manifest: dict, signing_key: bytes | None = None) -> dict:
    """Checksum every file in ``staging`` into the manifest and write it last."""
    files = {}
    for path in sorted(staging.iterdir()):
        if path.name in (MANIFEST_FILE, SIGNATURE_FILE) or not path.is_file():
            continue
        files[path.name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    if MODEL_FILE not in files:
        raise BundleError(f"{staging}: {MODEL_FILE} was not written")
    manifest = {**manifest, "format_version": FORMAT_VERSION, "files": files}
    data = (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode()
    _write_durably(staging / MANIFEST_FILE, data)
    if signing_key:
        _write_durably(staging / SIGNATURE_FILE, (sign(data, signing_key) + "\n").encode())
    return manifest


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def read_manifest(path: Path | str, signing_key: bytes | None = None) -> dict:
    """Read and check a bundle's manifest and files; return the manifest.

    Raises :class:`BundleError` when a file is missing, has the wrong size
    or checksum, or the signature does not match. Nothing is unpickled.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"{folder}: no model bundle here (run `make train` or `python -m training`)")
    manifest_path = folder / MANIFEST_FILE
    try:
        data = manifest_path.read_bytes()
        manifest = json.loads(data)
    except FileNotFoundError:
        raise BundleError(f"{folder}: {MANIFEST_FILE} is missing (incomplete bundle)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{manifest_path}: no 'files' table")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{manifest_path}: bundle format {manifest.get('format_version')!r}, "
                          f"this version reads format {FORMAT_VERSION}")
    if signing_key:
        try:
            signature = (folder / SIGNATURE_FILE).read_text().strip()
        except FileNotFoundError:
            raise BundleError(f"{folder}: unsigned bundle, but a signing key is configured") from None
        if not hmac.compare_digest(signature, sign(data, signing_key)):
            raise BundleError(f"{folder}: manifest signature does not match the configured key")
    if MODEL_FILE not in manifest["files"]:
        raise BundleError(f"{manifest_path}: does not list {MODEL_FILE}")
    for name, expected in manifest["files"].items():
        file = folder / name
        if Path(name).name != name:
            raise BundleError(f"{manifest_path}: file name {name!r} is not a plain name")
        if not file.is_file():
            raise BundleError(f"{file}: listed in the manifest but missing")
        if file.stat().st_size != expected.get("bytes"):
            raise BundleError(f"{file}: size {file.stat().st_size} bytes, manifest says {expected.get('bytes')} "
                              f"(truncated or replaced)")
        if sha256_file(file) != expected.get("sha256"):
            raise BundleError(f"{file}: sha256 does not match the manifest (corrupted or tampered with)")
    return manifest


def check_compatible(manifest: dict, installed: dict[str, str]) -> None:
    """Refuse a bundle made with another scikit-learn minor version than ``installed``."""
    made_with = manifest.get("versions", {}).get("scikit-learn", "unknown")
    here = installed["scikit-learn"]
    if _minor(made_with) != _minor(here):
        raise BundleError(
            f"bundle {manifest.get('version', '?')} was made with scikit-learn {made_with}, "
            f"but scikit-learn {here} is installed; retrain the model or install scikit-learn {made_with}"
        )


def publish(staging: Path, root: Path, version: str, keep: int = DEFAULT_KEEP,
            signing_key: bytes | None = None, candidate: bool = False) -> Path:
    """Move a complete bundle into place and point ``current`` (or ``candidate``) at it, atomically.

    The bundle is verified after the move and before the link changes; any
    failure leaves the links where they were. A candidate waits for the
    promotion gate (``runtime.gate``) instead of going live.
    """
    final = root / version
    os.rename(staging, final)
    read_manifest(final, signing_key)
    _fsync_dir(root)
    if candidate and current_version(root) is not None:
        superseded = candidate_version(root)
        if superseded and (root / superseded).is_dir():  # never gated: not a rollback target either
            (root / superseded / REFUSED_MARKER).touch()
        point_link(root, version, CANDIDATE_LINK)
    else:
        point_current(root, version)
    prune(root, keep)
    return final


def point_link(root: Path, version: str, name: str) -> None:
    """Atomically repoint ``root/name`` to ``root/version``."""
    if not (root / version).is_dir():
        raise BundleError(f"{root / version}: no such version")
    link = root / f".{name}-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(version, link)
    try:
        os.replace(link, root / name)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    _fsync_dir(root)


def point_current(root: Path, version: str) -> None:
    """Atomically repoint ``root/current`` to ``root/version``."""
    point_link(root, version, CURRENT_LINK)


def current_version(root: Path) -> str | None:
    """Return the version ``current`` points to, or None."""
    link = root / CURRENT_LINK
    return os.readlink(link) if link.is_symlink() else None


def candidate_version(root: Path) -> str | None:
    """Return the version ``candidate`` points to, or None."""
    link = root / CANDIDATE_LINK
    return os.readlink(link) if link.is_symlink() else None


def link_of(root: Path, version: str) -> str:
    """Name the link that points at ``version`` (``current`` or ``candidate``), else the version itself."""
    if current_version(root) == version:
        return CURRENT_LINK
    return CANDIDATE_LINK if candidate_version(root) == version else version


def clear_candidate(root: Path, refused: bool = False) -> None:
    """Remove the ``candidate`` link (the bundle stays until pruned); mark it when it was ``refused``."""
    version = candidate_version(root)
    if refused and version and (root / version).is_dir():
        (root / version / REFUSED_MARKER).touch()
    (root / CANDIDATE_LINK).unlink(missing_ok=True)
    _fsync_dir(root)


def list_versions(root: Path) -> list[str]:
    """Return the published versions in ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
                  and (p / MANIFEST_FILE).is_file())


def previous_version(root: Path) -> str | None:
    """Return the newest version older than the current one, or None; never a candidate or a refused one."""
    current, candidate = current_version(root), candidate_version(root)
    older = [v for v in list_versions(root) if (current is None or v < current) and v != candidate
             and not (root / v / REFUSED_MARKER).exists()]
    return older[-1] if older else None


def prune(root: Path, keep: int) -> list[str]:
    """Delete the oldest versions beyond ``keep``; never the current one or the one before it."""
    current = current_version(root)
    protected = {current, previous_version(root), candidate_version(root)}
    removed = []
    versions = list_versions(root)
    for version in versions[: max(0, len(versions) - keep)]:
        if version not in protected:
            shutil.rmtree(root / version, ignore_errors=True)
            removed.append(version)
    for stale in root.glob(STAGING_PREFIX + "*"):
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    return removed
