"""What `make run`, `make test` and CI need from the machine beyond Python, and installing it.

    python -m provision.system_deps           # install what is missing (root + apt), else say what
    python -m provision.system_deps --check   # only say what is missing (exit 1 if anything is)

Java 17 and Maven run Apache Kafka from its own jars (Maven resolves them from Maven Central),
PostgreSQL's server binaries run the databases, Chromium runs the browser tests (Playwright drives
/usr/bin/chromium itself: no separate driver).
On Debian, as root, the missing ones are installed with apt-get, as CI does; elsewhere one line
says what to install. Why apt and not Python-packaged runtimes: docs/operations.md.

Standard library only: it runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    what: str
    package: str  # Debian's
    present: bool


def postgres_present() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or shutil.which("initdb") is not None


def parts(with_browser: bool) -> list[Part]:
    found = [
        Part("Java 17", "openjdk-17-jre-headless", shutil.which("java") is not None),
        Part("Maven", "maven", shutil.which("mvn") is not None),
        Part("PostgreSQL server", "postgresql", postgres_present()),
    ]
    if with_browser:
        found.append(Part("Chromium", "chromium", os.path.exists("/usr/bin/chromium")))
    return found


def missing_line(missing: list[Part]) -> str:
    """The one line that says what to install."""
    names = ", ".join(p.what for p in missing)
    return f"missing: {names}; install them (Debian: apt-get install {' '.join(p.package for p in missing)})"


def can_apt() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(missing: list[Part]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing with apt-get: {' '.join(p.package for p in missing)}", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *(p.package for p in missing)], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report what is missing")
    parser.add_argument("--browser", action="store_true", help="also Chromium (browser tests)")
    args = parser.parse_args(argv)
    missing = [p for p in parts(args.browser) if not p.present]
    if not missing:
        return 0
    if args.check or not can_apt():
        print(missing_line(missing), file=sys.stderr)
        return 1
    install(missing)
    still = [p for p in parts(args.browser) if not p.present]
    if still:
        print(missing_line(still), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
