"""Install a bundle trained elsewhere into a models folder, as its current model.

    python -m runtime.install path/to/bundle /models

A bundle is often trained on one machine and served on another: baked into
the serving image (``docker build --build-arg MODEL=bundle``, see
docs/deployment.md), or copied into a volume. Copying the folder by hand
skips the checks, so a bundle that would be refused is found only when the
service starts. This verifies it the way the service will (every checksum,
the signature when ``TOPICS_SIGNING_KEY`` is set, the scikit-learn version,
and a full load), then publishes a copy with the same atomic link change as
training (``runtime.bundle.publish``). Exit status 1, with the reason, when
the bundle is refused; the models folder is then left as it was.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Sequence

from runtime.bundle import BundleError, new_staging_dir, publish, signing_key_from_environment
from runtime.model import TopicModel


def install(source: Path, root: Path, signing_key: bytes | None = None) -> str:
    """Verify the bundle in ``source``, publish a copy under ``root`` as current and return its version."""
    version = TopicModel.load(source, signing_key).version
    if (root / version).exists():
        raise BundleError(f"{root / version} already exists: this bundle is installed")
    staging = new_staging_dir(root)
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        publish(staging, root, version, signing_key=signing_key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.install", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="a bundle folder, as `python -m training` publishes it")
    parser.add_argument("models", type=Path, help="the models folder; the bundle becomes its `current`")
    args = parser.parse_args(argv)
    try:
        version = install(args.bundle.resolve(), args.models, signing_key_from_environment())
    except (BundleError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"installed {version} as {args.models / 'current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
