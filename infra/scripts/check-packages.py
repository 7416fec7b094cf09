#!/usr/bin/env python3
"""Checks the zips `make package` built: each of the named functions has
<dir>/<function>/bootstrap.zip holding one file, `bootstrap`, executable (its Unix mode), an ELF
executable for the architecture given (x86_64 or arm64). Exits non-zero naming every problem.

Usage: check-packages.py <dir> <x86_64|arm64> <function>...
"""

import stat
import struct
import sys
import zipfile

MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}


def problems_of(path: str, arch: str) -> list[str]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        return [f"{path}: {err}"]
    with archive:
        names = archive.namelist()
        if names != ["bootstrap"]:
            return [f"{path}: holds {names}, not just bootstrap"]
        info = archive.getinfo("bootstrap")
        mode = info.external_attr >> 16
        found = []
        if not mode & stat.S_IXUSR:
            found.append(f"{path}: bootstrap is not executable (mode {oct(mode)})")
        header = archive.open("bootstrap").read(64)
    if header[:4] != b"\x7fELF":
        return found + [f"{path}: bootstrap is not an ELF file"]
    elf_type, machine = struct.unpack_from("<HH", header, 16)
    if elf_type not in (2, 3):  # ET_EXEC, or ET_DYN for a position-independent executable
        found.append(f"{path}: bootstrap is not an executable (ELF type {elf_type})")
    if machine != MACHINES[arch]:
        found.append(f"{path}: bootstrap is for machine {machine:#x}, not {arch}")
    return found


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] not in MACHINES:
        print(__doc__, file=sys.stderr)
        return 2
    directory, arch, functions = sys.argv[1], sys.argv[2], sys.argv[3:]
    problems = []
    for function in functions:
        problems += problems_of(f"{directory}/{function}/bootstrap.zip", arch)
    for problem in problems:
        print(f"package: {problem}", file=sys.stderr)
    if not problems:
        for function in functions:
            print(f"package: {directory}/{function}/bootstrap.zip ({arch}) holds an executable bootstrap")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
