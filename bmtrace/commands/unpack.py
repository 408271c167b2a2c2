"""`bmtrace unpack run.tar -C DIR`: restore a packed run, verifying every file against its manifest.

An archive is untrusted data: only regular files and folders under the run's own name are
extracted (no absolute paths, no `..`, no links or devices), each file's sha256 and size must
match the manifest, nothing may be missing or extra, and the run appears in DIR only once all of
that holds (it is assembled in a hidden folder next to it first).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile

from ..errors import PackError
from .pack import MANIFEST, PACK_FORMAT

NAME = "unpack"
HELP = "unpack a run packed by `bmtrace pack`, verifying each file's sha256 checksum"
_CHUNK = 1 << 20
_MAX_MANIFEST = 64 << 20


def add_arguments(parser):
    parser.add_argument("archive", help="file written by `bmtrace pack` (.tar or .tar.gz)")
    parser.add_argument("-C", "--directory", default=".", metavar="DIR",
                        help="folder to unpack into (default: the current directory); the run becomes DIR/NAME")
    parser.epilog = "example: bmtrace unpack port.tar -C runs/   # creates runs/port, checked file by file"


def run(args):
    target = unpack_run(args.archive, args.directory)
    print("unpacked %s -> %s (every file matches its sha256)" % (args.archive, target))
    return 0


def unpack_run(archive, directory):
    """Extract and verify ``archive`` into ``directory``; returns the path of the restored run."""
    if not os.path.isfile(archive):
        raise PackError("%s: no such archive file" % archive)
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackError("%s is not a readable tar archive (%s); write one with `bmtrace pack RUN -o FILE`"
                        % (archive, exc)) from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise PackError("%s is damaged: %s" % (archive, exc)) from None
        manifest = _read_manifest(tar, members, archive)
        name = manifest["run"]
        target = os.path.join(directory, name)
        if os.path.lexists(target):
            raise PackError("%s already exists; unpack into another folder with -C DIR, or remove it first" % target)
        os.makedirs(directory, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".%s.unpacking-" % name, dir=directory)
        try:
            _extract(tar, members, manifest, archive, os.path.join(staging, name))
            os.rename(os.path.join(staging, name), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _read_manifest(tar, members, archive):
    found = [m for m in members if m.name == MANIFEST]
    if len(found) != 1 or not found[0].isfile() or found[0].size > _MAX_MANIFEST:
        raise PackError("%s has no valid %s: it was not written by `bmtrace pack` (or was cut short); refusing "
                        "to unpack files that cannot be checked" % (archive, MANIFEST))
    try:
        doc = json.loads(tar.extractfile(found[0]).read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, tarfile.TarError, OSError) as exc:
        raise PackError("%s: its %s is not valid JSON (%s)" % (archive, MANIFEST, exc)) from None
    files = doc.get("files") if isinstance(doc, dict) else None
    name = doc.get("run") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("format") != PACK_FORMAT:
        raise PackError("%s: %s has format %r; this bmtrace reads format %d (upgrade bmtrace?)"
                        % (archive, MANIFEST, doc.get("format") if isinstance(doc, dict) else doc, PACK_FORMAT))
    if not isinstance(name, str) or not _plain_name(name) or not isinstance(files, dict):
        raise PackError("%s: %s does not name a run folder and its files" % (archive, MANIFEST))
    for rel, entry in files.items():
        if (not isinstance(rel, str) or not _safe_relative(rel) or not isinstance(entry, dict)
                or not isinstance(entry.get("sha256"), str) or not isinstance(entry.get("size"), int)):
            raise PackError("%s: %s lists an invalid entry %r" % (archive, MANIFEST, rel))
    return doc


def _plain_name(name):
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\x00" not in name


def _safe_relative(rel):
    """A relative path of plain names: no absolute path, no `..`, no empty or odd parts."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        return False
    return all(_plain_name(part) for part in rel.split("/"))


def _extract(tar, members, manifest, archive, root):
    name, files = manifest["run"], manifest["files"]
    prefix = name + "/"
    seen = set()
    os.makedirs(root)
    for member in members:
        if member.name == MANIFEST:
            continue
        where = "%s: member %r" % (archive, member.name)
        if member.name == name and member.isdir():
            continue
        if not member.name.startswith(prefix) or not _safe_relative(member.name[len(prefix):].rstrip("/")):
            raise PackError("%s lies outside the run folder %r (absolute path or `..`); refusing to unpack"
                            % (where, name))
        rel = member.name[len(prefix):].rstrip("/")
        path = os.path.join(root, *rel.split("/"))
        if member.isdir():
            os.makedirs(path, exist_ok=True)
            continue
        if not member.isfile():
            raise PackError("%s is a %s, not a regular file; a packed run holds only files and folders"
                            % (where, "link" if member.issym() or member.islnk() else "special file"))
        if rel in seen:
            raise PackError("%s appears twice in the archive" % where)
        seen.add(rel)
        expected = files.get(rel)
        if expected is None:
            raise PackError("%s is not listed in %s; the archive was changed after packing" % (where, MANIFEST))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        digest, size = _copy_member(tar, member, path)
        if size != expected["size"] or digest != expected["sha256"]:
            raise PackError("%s is corrupt: sha256 %s, %d bytes; the manifest says sha256 %s, %d bytes"
                            % (where, digest, size, expected["sha256"], expected["size"]))
    missing = sorted(set(files) - seen)
    if missing:
        raise PackError("%s is missing %d file(s) its manifest lists, e.g. %s/%s (cut short?)"
                        % (archive, len(missing), name, missing[0]))


def _copy_member(tar, member, path):
    sha = hashlib.sha256()
    size = 0
    source = tar.extractfile(member)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        while True:
            try:
                chunk = source.read(_CHUNK)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise PackError("%s: member %r cannot be read: %s" % (tar.name, member.name, exc)) from None
            if not chunk:
                break
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return sha.hexdigest(), size
