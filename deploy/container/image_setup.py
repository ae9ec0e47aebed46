"""Run once while the image is built (as root): the evotraders user, /data, bytecode.

Works on any base (python:3.11-slim or the local one scripts/build_image.sh
makes, which has no useradd): the user is appended to /etc/passwd and /etc/group.
"""

from __future__ import annotations

import compileall
import os
import sys

UID = GID = 10001
NAME = "evotraders"


def add_line(path: str, line: str, key: str) -> None:
    try:
        with open(path, encoding="utf-8") as fh:
            if any(existing.split(":", 1)[0] == key for existing in fh):
                return
    except FileNotFoundError:
        pass
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def main() -> int:
    add_line("/etc/group", f"{NAME}:x:{GID}:", NAME)
    add_line("/etc/passwd", f"{NAME}:x:{UID}:{GID}:EvoTraders:/tmp:/usr/sbin/nologin", NAME)
    for folder in ("/data", "/data/runs", "/data/workspaces"):
        os.makedirs(folder, exist_ok=True)
        os.chown(folder, UID, GID)
        os.chmod(folder, 0o750)
    os.makedirs("/tmp", exist_ok=True)
    os.chmod("/tmp", 0o1777)
    ok = compileall.compile_dir("/app", quiet=1, workers=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
