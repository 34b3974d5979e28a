"""A local Hub-compatible HTTP server, so tests drive the real Hub clients without reaching the Hub.

It implements the slice of the Hugging Face Hub HTTP API that `huggingface_hub` (2.x) and
`datasets` (5.x) use to publish and read a dataset repo: whoami, repo creation (with the Hub's
default `.gitattributes`), repo info, `validate-yaml` (a real check of the card metadata),
preupload (LFS vs regular), the git-LFS batch API with basic transfer (PUT then verify), the
NDJSON commit endpoint, branches and tags, refs, tree and paths-info listings, commit history,
and file download through `resolve/<revision>/<path>` by branch, tag or commit sha (with ranges).

State lives in memory and behaves like git: commits are immutable snapshots, branches move,
tags do not. Tokens map to users; invalid tokens get 401 everywhere, as on the Hub. Tests can
inject faults (drop the connection during an LFS PUT or a commit) and read the request log.
Standard library only (``http.server``), plus pyyaml for the card validator.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import yaml

# The LFS patterns the Hub writes into a new repo's .gitattributes (abridged to what matters here).
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.gz", "*.h5", "*.joblib", "*.lz4",
        "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.parquet", "*.pickle", "*.pkl", "*.pt",
        "*.pth", "*.safetensors", "*.tar", "*.tgz", "*.xz", "*.zip", "*.zst",
        "*.png", "*.jpg", "*.jpeg", "*.webp", "*.gif", "*.mp3", "*.wav",
    )
)

#: Files above this size are LFS whatever their name (the Hub's threshold for regular git files).
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024

_REPO_TYPES = {"datasets": "dataset", "models": "model", "spaces": "space"}
_URL_PREFIX = {"dataset": "datasets/", "model": "", "space": "spaces/"}


# --------------------------------------------------------------------------- card validation

KNOWN_LICENSES = frozenset(
    """apache-2.0 mit openrail openrail++ bigscience-openrail-m creativeml-openrail-m bigcode-openrail-m
    bigscience-bloom-rail-1.0 afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0
    cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0
    etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc lppl-1.3c
    ms-pl mpl-2.0 odc-by odbl osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr llama2 llama3
    gemma unknown other""".split()
)

KNOWN_TASK_CATEGORIES = frozenset(
    """text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation fill-mask
    sentence-similarity text-to-speech text-to-audio automatic-speech-recognition audio-to-audio
    audio-classification voice-activity-detection depth-estimation image-classification object-detection
    image-segmentation text-to-image image-to-text image-to-image image-to-video unconditional-image-generation
    video-classification reinforcement-learning robotics tabular-classification tabular-regression
    tabular-to-text table-to-text multiple-choice text-ranking text-retrieval time-series-forecasting
    text-to-video image-text-to-text visual-question-answering document-question-answering
    zero-shot-image-classification graph-ml mask-generation zero-shot-object-detection text-to-3d
    image-to-3d image-feature-extraction video-text-to-text any-to-any other""".split()
)

SIZE_CATEGORIES = (
    "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M",
    "100M<n<1B", "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T",
)


def split_front_matter(content: str) -> tuple[str | None, str]:
    """(YAML text or None, body) of a model/dataset card, as the Hub splits it."""
    lines = content.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        return None, content
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    return None, content


def _str_list(value: object) -> list[str] | None:
    """``value`` as a list of strings (a lone string counts), or None when it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _check_data_files(name: str, data_files: object) -> list[str]:
    """Errors in one config's ``data_files`` (a glob, a list of globs, or a list of {split, path})."""
    if _str_list(data_files) is not None:
        return []
    if not isinstance(data_files, list) or not data_files:
        return [f'"configs[{name}].data_files" must be a string, a list of strings or a list of {{split, path}}']
    errors = []
    splits = []
    for item in data_files:
        if not isinstance(item, dict) or set(item) - {"split", "path"} or "path" not in item:
            errors.append(f'"configs[{name}].data_files" items must be objects with "split" and "path"')
            continue
        if _str_list(item["path"]) is None:
            errors.append(f'"configs[{name}].data_files[].path" must be a string or a list of strings')
        split = item.get("split", "train")
        if not isinstance(split, str) or not split:
            errors.append(f'"configs[{name}].data_files[].split" must be a non-empty string')
        splits.append(split)
    if len(splits) != len(set(splits)):
        errors.append(f'"configs[{name}].data_files" names a split twice')
    return errors


def validate_card_metadata(content: str, repo_type: str = "dataset") -> tuple[list[str], list[str]]:
    """(errors, warnings) for a card's YAML metadata: the checks the Hub's validator makes.

    The Hub rejects a README whose front matter is not a YAML mapping, whose ``license`` or
    ``task_categories`` are not known ids, whose ``size_categories`` are not the Hub's buckets,
    or whose ``configs`` do not have the shape ``datasets`` reads.
    """
    yaml_text, _ = split_front_matter(content)
    if yaml_text is None or not yaml_text.strip():
        return [], ["Empty or missing yaml metadata in repo card"]
    try:
        metadata = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        return [f"Invalid YAML in card metadata: {str(exc).splitlines()[0]}"], []
    if not isinstance(metadata, dict):
        return ["Card metadata must be a YAML mapping"], []
    errors: list[str] = []

    if "license" in metadata:
        licenses = _str_list(metadata["license"])
        if licenses is None:
            errors.append('"license" must be a string or a list of strings')
        else:
            errors += [f'"license" "{value}" is not a known license id' for value in licenses
                       if value not in KNOWN_LICENSES]
            if "other" in licenses and repo_type == "model" and "license_name" not in metadata:
                errors.append('"license_name" is required when "license" is "other"')
    if "language" in metadata:
        languages = _str_list(metadata["language"])
        if languages is None:
            errors.append('"language" must be a string or a list of strings')
        else:
            errors += [f'"language" "{value}" is not a language code' for value in languages
                       if not _is_language_code(value)]
    if repo_type == "dataset":
        if "task_categories" in metadata:
            tasks = _str_list(metadata["task_categories"])
            if tasks is None:
                errors.append('"task_categories" must be a list of strings')
            else:
                errors += [f'"task_categories" "{value}" is not a known task' for value in tasks
                           if value not in KNOWN_TASK_CATEGORIES]
        if "size_categories" in metadata:
            sizes = _str_list(metadata["size_categories"])
            if sizes is None:
                errors.append('"size_categories" must be a list of strings')
            else:
                errors += [f'"size_categories" "{value}" must be one of {", ".join(SIZE_CATEGORIES)}'
                           for value in sizes if value not in SIZE_CATEGORIES]
        if "configs" in metadata:
            errors += _check_configs(metadata["configs"])
    return errors, []


def _is_language_code(value: str) -> bool:
    head, *rest = value.split("-")
    return (2 <= len(head) <= 3 and head.isalpha() and head.islower()
            and all(1 <= len(part) <= 8 and part.isalnum() for part in rest))


def _check_configs(configs: object) -> list[str]:
    if not isinstance(configs, list) or not configs:
        return ['"configs" must be a non-empty list']
    errors = []
    names = []
    defaults = 0
    for config in configs:
        if not isinstance(config, dict):
            errors.append('"configs" items must be objects')
            continue
        name = config.get("config_name")
        if not isinstance(name, str) or not name:
            errors.append('"configs[].config_name" is required and must be a string')
            continue
        names.append(name)
        if "data_files" in config:
            errors += _check_data_files(name, config["data_files"])
        if "default" in config:
            if not isinstance(config["default"], bool):
                errors.append(f'"configs[{name}].default" must be a boolean')
            defaults += bool(config["default"])
    if len(names) != len(set(names)):
        errors.append('"configs[].config_name" must be unique')
    if defaults > 1:
        errors.append('only one config can be "default"')
    return errors


# --------------------------------------------------------------------------- git-like model


@dataclass(frozen=True)
class Blob:
    """One file version: inline bytes (regular) or a pointer to an LFS object."""

    size: int
    data: bytes | None = None
    lfs_oid: str | None = None

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.lfs_oid}\nsize {self.size}\n".encode()

    @property
    def git_oid(self) -> str:
        """The git blob id (of the content, or of the LFS pointer file, as git stores it)."""
        stored = self.pointer if self.lfs_oid else self.data
        return hashlib.sha1(b"blob %d\0" % len(stored) + stored).hexdigest()

    @property
    def etag(self) -> str:
        return self.lfs_oid or self.git_oid


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    title: str
    message: str
    files: Mapping[str, Blob]
    date: str
    author: str


@dataclass
class Repo:
    kind: str
    repo_id: str
    private: bool
    created: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tag_messages: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """Commit sha of a branch, a tag, or a (possibly abbreviated) commit sha."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        for prefix in ("refs/heads/", "refs/tags/"):
            if revision.startswith(prefix):
                return (self.branches if "heads" in prefix else self.tags).get(revision[len(prefix):])
        if len(revision) >= 7 and all(ch in "0123456789abcdef" for ch in revision):
            found = [sha for sha in self.commits if sha.startswith(revision)]
            return found[0] if len(found) == 1 else None
        return None

    def history(self, sha: str) -> list[Commit]:
        """First-parent history from ``sha`` back to the initial commit."""
        out = []
        while sha:
            commit = self.commits[sha]
            out.append(commit)
            sha = commit.parents[0] if commit.parents else ""
        return out


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (never its headers: they carry the token)."""

    method: str
    path: str
    status: int
    note: str = ""


class HubState:
    """Users, repos, LFS objects, fault switches and the request log; all access under ``lock``."""

    def __init__(self, tokens: Mapping[str, tuple[str, str]], orgs: Mapping[str, list[str]] | None = None):
        self.tokens = dict(tokens)  # token -> (user, role: "read" | "write")
        self.orgs = {user: set(names) for user, names in (orgs or {}).items()}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[RequestRecord] = []
        self.lock = threading.RLock()
        self.secret = secrets.token_bytes(16)
        self.counter = itertools.count()
        # Fault injection: how many LFS PUTs / commits to drop (the connection is closed mid-request).
        self.drop_lfs_puts = 0
        self.drop_commits = 0
        self.drop_commit_after_apply = False  # drop the response of an applied commit instead
        self.tree_page_size = 1000

    # -- helpers for tests
    def repo(self, repo_id: str, kind: str = "dataset") -> Repo:
        with self.lock:
            return self.repos[(kind, repo_id)]

    def count(self, method: str, path_contains: str, note: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and path_contains in r.path
                       and (note is None or r.note == note))

    def all_stored_text(self) -> bytes:
        """Everything users stored on the server (files, LFS objects, messages), for leak checks."""
        with self.lock:
            chunks = list(self.lfs.values())
            for repo in self.repos.values():
                chunks += [m.encode() for m in repo.tag_messages.values()]
                for commit in repo.commits.values():
                    chunks += [commit.title.encode(), commit.message.encode()]
                    chunks += [blob.data for blob in commit.files.values() if blob.data is not None]
            return b"\n".join(chunks)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _is_lfs_path(path: str, gitattributes: bytes | None) -> bool:
    """Whether .gitattributes routes ``path`` through LFS (git's pattern rules, simplified)."""
    for line in (gitattributes or b"").decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 2 or line.lstrip().startswith("#") or "filter=lfs" not in parts[1:]:
            continue
        pattern = parts[0]
        target = path if "/" in pattern else path.rsplit("/", 1)[-1]
        if fnmatch.fnmatchcase(target, pattern.lstrip("/")):
            return True
    return False


class HttpError(Exception):
    """An error response: status, message, and the Hub's X-Error-Code when it has one."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


# --------------------------------------------------------------------------- the HTTP layer

_REPO = r"(?P<rtype>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
Route = tuple[str, "re.Pattern[str]", Callable]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1.0"
    timeout = 60
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server: "_Server"

    # ---- plumbing

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence stderr access logs
        pass

    @property
    def state(self) -> HubState:
        return self.server.state

    @property
    def base(self) -> str:
        return self.server.url

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        self.raw_path = split.path
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.note = ""
        self.body = b""
        self.recorded = False
        status = 500
        try:
            for route_method, pattern, handler in ROUTES:
                if route_method != method:
                    continue
                match = pattern.fullmatch(self.raw_path)
                if match:
                    if not getattr(handler, "reads_own_body", False):
                        self.body = self._read_body()
                    status = handler(self, **match.groupdict())
                    break
            else:
                self._read_body()
                raise HttpError(404, f"Not found: {method} {self.raw_path}")
        except HttpError as err:
            status = err.status
            self._error(err)
        except _Dropped:
            status = 0
        except Exception as exc:  # a server bug: answer 500 and keep the reason in the log
            status, self.note = 500, f"{type(exc).__name__}: {exc}"
            self.close_connection = True
            try:
                self._error(HttpError(500, self.note))
            except OSError:
                pass
        finally:
            self._record(status)

    def _record(self, status: int) -> None:
        """Log the request once, before its response leaves (so a client never outruns the log)."""
        if not self.recorded:
            self.recorded = True
            with self.state.lock:
                self.state.requests.append(RequestRecord(self.command, self.raw_path, status, self.note))

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _read_body(self, limit: int | None = None) -> bytes:
        """The request body (Content-Length or chunked); with ``limit``, at most that many bytes."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunk = self.rfile.read(size)
                self.rfile.readline()
                chunks.append(chunk)
                total += len(chunk)
                if limit is not None and total >= limit:
                    return b"".join(chunks)[:limit]
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length if limit is None else min(length, limit))

    def _drop(self) -> None:
        """Close the connection abruptly, without a response (a network failure)."""
        self.close_connection = True
        self._record(0)
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped

    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
              content_type: str = "application/json") -> int:
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _json(self, obj: object, status: int = 200, headers: Mapping[str, str] | None = None,
              content_type: str = "application/json") -> int:
        return self._send(status, json.dumps(obj).encode(), headers, content_type)

    def _error(self, err: HttpError) -> None:
        headers = {"X-Error-Message": err.message.replace("\n", " ")}
        if err.code:
            headers["X-Error-Code"] = err.code
        headers.update(err.headers)
        self._send(err.status, json.dumps({"error": err.message}).encode(), headers)

    def _json_body(self) -> dict:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise HttpError(400, f"Invalid JSON body: {exc}") from exc
        if not isinstance(data, dict):
            raise HttpError(400, "JSON body must be an object")
        return data

    # ---- auth

    def _user(self) -> tuple[str, str] | None:
        """(user, role) of the bearer token, None when anonymous; 401 for a token the Hub does not know."""
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        with self.state.lock:
            found = self.state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        return found

    def _can_write_namespace(self, user: tuple[str, str] | None, namespace: str) -> None:
        if user is None:
            raise HttpError(401, "You must be authenticated to write to the Hub")
        name, role = user
        if role != "write":
            raise HttpError(403, "Your token has read access only")
        if namespace != name and namespace not in self.state.orgs.get(name, set()):
            raise HttpError(403, f"You don't have the rights to write to the namespace {namespace}")

    def _repo(self, rtype: str, ns: str, name: str, write: bool = False) -> Repo:
        user = self._user()
        repo_id = f"{unquote(ns)}/{unquote(name)}"
        with self.state.lock:
            repo = self.state.repos.get((_REPO_TYPES[rtype], repo_id))
        visible = repo is not None and (
            not repo.private or (user is not None and (user[0] == ns or ns in self.state.orgs.get(user[0], set())))
        )
        if not visible:
            raise HttpError(404, "Repository not found", "RepoNotFound")
        if write:
            self._can_write_namespace(user, unquote(ns))
        return repo

    def _revision(self, repo: Repo, revision: str) -> Commit:
        revision = unquote(revision)
        with self.state.lock:
            sha = repo.resolve(revision)
            if sha is None:
                raise HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return repo.commits[sha]

    # ---- listings

    def _entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict:
        """A tree/paths-info entry for a file or a directory of ``commit``."""
        blob = commit.files.get(path)
        if blob is not None:
            entry = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": path}
            if blob.lfs_oid:
                entry["lfs"] = {"oid": blob.lfs_oid, "size": blob.size, "pointerSize": len(blob.pointer)}
        else:
            children = sorted((p, b.git_oid) for p, b in commit.files.items() if p.startswith(path + "/"))
            oid = hashlib.sha1(json.dumps(children).encode()).hexdigest()
            entry = {"type": "directory", "oid": oid, "size": 0, "path": path}
        if expand:
            last = self._last_commit(repo, commit, path)
            entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
        return entry

    @staticmethod
    def _last_commit(repo: Repo, commit: Commit, path: str) -> Commit:
        """The most recent commit in first-parent history that changed ``path`` (file or folder)."""

        def snapshot(c: Commit) -> list:
            return sorted((p, b.git_oid) for p, b in c.files.items() if p == path or p.startswith(path + "/"))

        history = repo.history(commit.sha)
        for newer, older in zip(history, history[1:]):
            if snapshot(newer) != snapshot(older):
                return newer
        return history[-1]

    @staticmethod
    def _children(commit: Commit, folder: str, recursive: bool) -> list[str]:
        prefix = folder + "/" if folder else ""
        names: set[str] = set()
        for path in commit.files:
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            for depth in range(1, len(parts) + 1 if recursive else 2):
                names.add(prefix + "/".join(parts[:depth]))
        return sorted(names)

    @staticmethod
    def _exists(commit: Commit, path: str) -> bool:
        return path in commit.files or any(p.startswith(path + "/") for p in commit.files)

    # ---- endpoints: account and repos

    def whoami(self) -> int:
        user = self._user()
        if user is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        name, role = user
        orgs = [{"type": "org", "name": org} for org in sorted(self.state.orgs.get(name, set()))]
        return self._json({
            "type": "user", "id": hashlib.sha1(name.encode()).hexdigest()[:24], "name": name, "fullname": name,
            "email": f"{name}@example.invalid", "emailVerified": True, "isPro": False, "orgs": orgs,
            "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": role}},
        })

    def create_repo(self) -> int:
        payload = self._json_body()
        user = self._user()
        name = payload.get("name")
        kind = payload.get("type") or "model"
        if not isinstance(name, str) or not name or kind not in _URL_PREFIX:
            raise HttpError(400, "Invalid repo name or type")
        if user is None:
            raise HttpError(401, "You must be authenticated to create a repo")
        namespace = payload.get("organization") or user[0]
        self._can_write_namespace(user, namespace)
        repo_id = f"{namespace}/{name}"
        private = payload.get("visibility") == "private" or payload.get("private") is True
        url = f"{self.base}/{_URL_PREFIX[kind]}{repo_id}"
        with self.state.lock:
            if (kind, repo_id) in self.state.repos:
                return self._json({"error": f"You already created this {kind} repo", "url": url}, 409)
            repo = Repo(kind=kind, repo_id=repo_id, private=private, created=_now())
            self.state.repos[(kind, repo_id)] = repo
            attributes = DEFAULT_GITATTRIBUTES.encode()
            files = {".gitattributes": Blob(size=len(attributes), data=attributes)}
            self._new_commit(repo, "main", None, "initial commit", "", files, user[0])
        return self._json({"url": url, "name": repo_id, "id": repo_id})

    def repo_info(self, rtype: str, ns: str, name: str, revision: str | None = None) -> int:
        repo = self._repo(rtype, ns, name)
        commit = self._revision(repo, revision or "main")
        blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=blob.size, blobId=blob.git_oid)
                if blob.lfs_oid:
                    sibling["lfs"] = {"size": blob.size, "sha256": blob.lfs_oid, "pointerSize": len(blob.pointer)}
            siblings.append(sibling)
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0], "sha": commit.sha, "lastModified": commit.date,
            "createdAt": repo.created, "private": repo.private, "gated": False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(blob.size for blob in commit.files.values()),
        }
        readme = commit.files.get("README.md")
        if readme is not None and readme.data is not None:
            yaml_text, _ = split_front_matter(readme.data.decode(errors="replace"))
            try:
                card_data = yaml.safe_load(yaml_text) if yaml_text else None
            except yaml.YAMLError:
                card_data = None
            if isinstance(card_data, dict):
                info["cardData"] = card_data
                info["tags"] = [f"license:{v}" for v in _str_list(card_data.get("license")) or []]
        return self._json(info)

    def auth_check(self, rtype: str, ns: str, name: str, write: str | None = None) -> int:
        self._repo(rtype, ns, name, write=bool(write))
        return self._json({})

    def validate_yaml(self) -> int:
        payload = self._json_body()
        content = payload.get("content")
        if not isinstance(content, str):
            raise HttpError(400, '"content" must be a string')
        errors, warnings = validate_card_metadata(content, payload.get("repoType") or "model")
        body = {"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]}
        return self._json(body, 400 if errors else 200)

    # ---- endpoints: refs

    def refs(self, rtype: str, ns: str, name: str) -> int:
        repo = self._repo(rtype, ns, name)
        with self.state.lock:
            body = {
                "branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in repo.branches.items()],
                "converts": [],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in repo.tags.items()],
            }
        if self.query.get("include_prs"):
            body["pullRequests"] = []
        return self._json(body)

    def create_branch(self, rtype: str, ns: str, name: str, branch: str) -> int:
        repo = self._repo(rtype, ns, name, write=True)
        branch = unquote(branch)
        start = self._json_body().get("startingPoint")
        commit = self._revision(repo, start or "main")
        with self.state.lock:
            if branch in repo.branches or branch in repo.tags:
                raise HttpError(409, f"Reference already exists: {branch}")
            repo.branches[branch] = commit.sha
        return self._json({})

    def create_tag(self, rtype: str, ns: str, name: str, revision: str) -> int:
        repo = self._repo(rtype, ns, name, write=True)
        payload = self._json_body()
        tag = payload.get("tag")
        if not isinstance(tag, str) or not tag or any(c in tag for c in " ~^:?*[\\"):
            raise HttpError(400, "Invalid tag name")
        commit = self._revision(repo, revision)
        with self.state.lock:
            if tag in repo.tags or tag in repo.branches:
                raise HttpError(409, f"Tag already exists: {tag}")
            repo.tags[tag] = commit.sha
            repo.tag_messages[tag] = str(payload.get("message") or "")
        return self._json({})

    # ---- endpoints: listings

    def tree(self, rtype: str, ns: str, name: str, revision: str, path: str | None = None) -> int:
        repo = self._repo(rtype, ns, name)
        commit = self._revision(repo, revision)
        folder = unquote(path or "").strip("/")
        if folder and not self._exists(commit, folder):
            raise HttpError(404, f"{folder} does not exist at {revision}", "EntryNotFound",
                            {"X-Repo-Commit": commit.sha})
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
        names = self._children(commit, folder, recursive)
        cursor = int(self.query.get("cursor", ["0"])[0])
        size = min(self.state.tree_page_size, 50) if expand else self.state.tree_page_size
        page = names[cursor:cursor + size]
        headers = {}
        if cursor + size < len(names):
            query = urlencode({"recursive": recursive, "expand": expand, "cursor": cursor + size})
            headers["Link"] = f'<{self.base}{self.raw_path}?{query}>; rel="next"'
            self.note = "more pages"
        return self._json([self._entry(repo, commit, p, expand) for p in page], headers=headers)

    def paths_info(self, rtype: str, ns: str, name: str, revision: str) -> int:
        repo = self._repo(rtype, ns, name)
        commit = self._revision(repo, revision)
        form = parse_qs(self.body.decode(), keep_blank_values=True)
        if "application/json" in (self.headers.get("Content-Type") or ""):
            data = self._json_body()
            form = {"paths": data.get("paths", []), "expand": [str(data.get("expand", False))]}
        expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        paths = [p.strip("/") for p in form.get("paths", [])]
        return self._json([self._entry(repo, commit, p, expand) for p in paths if self._exists(commit, p)])

    def commits(self, rtype: str, ns: str, name: str, revision: str) -> int:
        repo = self._repo(rtype, ns, name)
        commit = self._revision(repo, revision)
        return self._json([
            {"id": c.sha, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": c.author}]}
            for c in repo.history(commit.sha)
        ])

    # ---- endpoints: upload

    def preupload(self, rtype: str, ns: str, name: str, revision: str) -> int:
        repo = self._repo(rtype, ns, name, write=True)
        commit = self._revision(repo, revision)
        files = self._json_body().get("files")
        if not isinstance(files, list):
            raise HttpError(400, '"files" must be a list')
        attributes = commit.files.get(".gitattributes")
        out = []
        for item in files:
            path, size = item.get("path"), item.get("size")
            if not isinstance(path, str) or not isinstance(size, int):
                raise HttpError(400, "each file needs a path and a size")
            sample = base64.b64decode(item.get("sample") or "")
            lfs = (_is_lfs_path(path, attributes.data if attributes else None)
                   or size > LFS_SIZE_THRESHOLD or b"\0" in sample)
            entry = {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            existing = commit.files.get(path)
            if existing is not None:
                entry["oid"] = existing.lfs_oid if existing.lfs_oid else existing.git_oid
            out.append(entry)
        return self._json({"files": out, "commitOid": commit.sha})

    def lfs_batch(self, rtype: str | None, ns: str, name: str) -> int:
        repo = self._repo(rtype or "models", ns, name, write=True)
        payload = self._json_body()
        if payload.get("operation") != "upload":
            raise HttpError(400, "Only the upload operation is supported")
        objects = []
        for obj in payload.get("objects") or []:
            oid, size = obj.get("oid"), obj.get("size")
            if not isinstance(oid, str) or len(oid) != 64 or not isinstance(size, int):
                raise HttpError(422, "Invalid LFS object")
            entry = {"oid": oid, "size": size}
            with self.state.lock:
                present = len(self.state.lfs.get(oid, b"")) == size and oid in self.state.lfs
            if not present:
                sig = hmac.new(self.state.secret, f"{oid}:{size}".encode(), "sha256").hexdigest()
                query = urlencode({"size": size, "sig": sig})
                entry["authenticated"] = True
                entry["actions"] = {
                    "upload": {"href": f"{self.base}/lfs/objects/{oid}?{query}", "expires_in": 3600},
                    "verify": {"href": f"{self.base}/lfs/verify/{rtype or 'models'}/{quote(repo.repo_id, safe='/')}"},
                }
            objects.append(entry)
        return self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                          content_type="application/vnd.git-lfs+json")

    def lfs_put(self, oid: str) -> int:
        size = int(self.query.get("size", ["-1"])[0])
        expected = hmac.new(self.state.secret, f"{oid}:{size}".encode(), "sha256").hexdigest()
        if not hmac.compare_digest(expected, self.query.get("sig", [""])[0]):
            self._read_body()
            raise HttpError(403, "Invalid upload signature")
        with self.state.lock:
            drop = self.state.drop_lfs_puts > 0
            if drop:
                self.state.drop_lfs_puts -= 1
        if drop:
            self.note = "dropped"
            self._read_body(limit=max(1, size // 2))
            self._drop()
        data = self._read_body()
        if len(data) != size or hashlib.sha256(data).hexdigest() != oid:
            raise HttpError(400, "Uploaded content does not match its oid and size")
        with self.state.lock:
            self.state.lfs[oid] = data
        self.note = "stored"
        return self._send(200)

    lfs_put.reads_own_body = True  # type: ignore[attr-defined]

    def lfs_verify(self, rtype: str, ns: str, name: str) -> int:
        self._repo(rtype, ns, name, write=True)
        payload = self._json_body()
        with self.state.lock:
            data = self.state.lfs.get(payload.get("oid", ""))
        if data is None or len(data) != payload.get("size"):
            raise HttpError(404, "LFS object not found")
        return self._json({"message": "ok"})

    def commit(self, rtype: str, ns: str, name: str, revision: str) -> int:
        repo = self._repo(rtype, ns, name, write=True)
        branch = unquote(revision)
        user = self._user()
        try:
            lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        except ValueError as exc:
            raise HttpError(400, f"Invalid NDJSON commit payload: {exc}") from exc
        if not lines or lines[0].get("key") != "header":
            raise HttpError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        with self.state.lock:
            drop = self.state.drop_commits > 0
            if drop:
                self.state.drop_commits -= 1
        if drop and not self.state.drop_commit_after_apply:
            self.note = "dropped"
            self._drop()
        with self.state.lock:
            if branch not in repo.branches:
                if repo.resolve(branch) is not None:
                    raise HttpError(400, f"Commits can only be made on a branch, not on {branch}")
                raise HttpError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            parent = header.get("parentCommit")
            if parent and not head.sha.startswith(parent):
                raise HttpError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = str(value.get("path", "")).strip("/")
                if key == "file":
                    data = base64.b64decode(value.get("content", ""))
                    files[path] = Blob(size=len(data), data=data)
                elif key == "lfsFile":
                    oid = value.get("oid")
                    if oid not in self.state.lfs:
                        raise HttpError(400, f"Your push was rejected because an LFS pointer pointed to a file "
                                             f"that does not exist: {path}")
                    files[path] = Blob(size=len(self.state.lfs[oid]), lfs_oid=oid)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HttpError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    for existing in [p for p in files if p.startswith(path + "/")]:
                        del files[existing]
                else:
                    raise HttpError(400, f"Unknown commit operation: {key}")
            readme = files.get("README.md")
            if readme is not None and readme.data is not None and readme is not head.files.get("README.md"):
                errors, _ = validate_card_metadata(readme.data.decode(errors="replace"), repo.kind)
                if errors:
                    raise HttpError(400, "Invalid metadata in README.md: " + "; ".join(errors))
            commit = self._new_commit(repo, branch, head.sha, str(header.get("summary") or ""),
                                      str(header.get("description") or ""), files, user[0] if user else "")
        if drop:
            self.note = "dropped-after-apply"
            self._drop()
        prefix = _URL_PREFIX[repo.kind]
        return self._json({"commitUrl": f"{self.base}/{prefix}{repo.repo_id}/commit/{commit.sha}",
                           "commitOid": commit.sha, "success": True, "pullRequestUrl": None})

    def _new_commit(self, repo: Repo, branch: str, parent: str | None, title: str, message: str,
                    files: Mapping[str, Blob], author: str) -> Commit:
        listing = "".join(f"{p} {b.git_oid}\n" for p, b in sorted(files.items()))
        seed = f"{parent}\n{listing}{title}\n{message}\n{next(self.state.counter)}"
        commit = Commit(sha=hashlib.sha1(seed.encode()).hexdigest(), parents=(parent,) if parent else (),
                        title=title, message=message, files=dict(files), date=_now(), author=author)
        repo.commits[commit.sha] = commit
        repo.branches[branch] = commit.sha
        return commit

    # ---- endpoints: download

    def resolve(self, rtype: str | None, ns: str, name: str, revision: str, path: str) -> int:
        repo = self._repo(rtype or "models", ns, name)
        commit = self._revision(repo, revision)
        path = unquote(path)
        blob = commit.files.get(path)
        if blob is None:
            raise HttpError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        data = self.state.lfs[blob.lfs_oid] if blob.lfs_oid else blob.data
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{blob.etag}"', "Accept-Ranges": "bytes"}
        if blob.lfs_oid:
            headers.update({"X-Linked-Etag": f'"{blob.lfs_oid}"', "X-Linked-Size": str(blob.size)})
        status = 200
        byte_range = self.headers.get("Range")
        if byte_range and byte_range.startswith("bytes="):
            start_text, _, end_text = byte_range[6:].split(",")[0].partition("-")
            if start_text:
                start, end = int(start_text), int(end_text) if end_text else len(data) - 1
            else:
                start, end = max(0, len(data) - int(end_text)), len(data) - 1
            if start >= len(data) and len(data):
                raise HttpError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        return self._send(status, data, headers, "application/octet-stream")

    def not_found(self, **_: str) -> int:
        raise HttpError(404, "Not found")


class _Dropped(Exception):
    """Raised after the handler closed the connection on purpose."""


def _route(method: str, pattern: str, handler: Callable) -> Route:
    return method, re.compile(pattern), handler


ROUTES: list[Route] = [
    _route("GET", r"/api/whoami-v2", _Handler.whoami),
    _route("POST", r"/api/repos/create", _Handler.create_repo),
    _route("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    _route("GET", rf"/api/{_REPO}", _Handler.repo_info),
    _route("GET", rf"/api/{_REPO}/revision/(?P<revision>[^/]+)", _Handler.repo_info),
    _route("GET", rf"/api/{_REPO}/auth-check(?P<write>/write)?", _Handler.auth_check),
    _route("GET", rf"/api/{_REPO}/refs", _Handler.refs),
    _route("POST", rf"/api/{_REPO}/branch/(?P<branch>[^/]+)", _Handler.create_branch),
    _route("POST", rf"/api/{_REPO}/tag/(?P<revision>[^/]+)", _Handler.create_tag),
    _route("GET", rf"/api/{_REPO}/tree/(?P<revision>[^/]+)(?:/(?P<path>.+))?", _Handler.tree),
    _route("POST", rf"/api/{_REPO}/paths-info/(?P<revision>[^/]+)", _Handler.paths_info),
    _route("GET", rf"/api/{_REPO}/commits/(?P<revision>[^/]+)", _Handler.commits),
    _route("POST", rf"/api/{_REPO}/preupload/(?P<revision>[^/]+)", _Handler.preupload),
    _route("POST", rf"/api/{_REPO}/commit/(?P<revision>[^/]+)", _Handler.commit),
    _route("PUT", r"/lfs/objects/(?P<oid>[0-9a-f]{64})", _Handler.lfs_put),
    _route("POST", rf"/lfs/verify/{_REPO}", _Handler.lfs_verify),
    _route("GET", r"/api/.*", _Handler.not_found),
    _route("POST", r"/(?:(?P<rtype>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)\.git/info/lfs/objects/batch",
           _Handler.lfs_batch),
    _route("GET", r"/(?:(?P<rtype>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)",
           _Handler.resolve),
    _route("HEAD", r"/(?:(?P<rtype>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)",
           _Handler.resolve),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, state: HubState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class HubServer:
    """The local Hub on 127.0.0.1 and a free port, served from a daemon thread; use as a context manager."""

    def __init__(self, tokens: Mapping[str, tuple[str, str]], orgs: Mapping[str, list[str]] | None = None):
        self.state = HubState(tokens, orgs)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return self._server.url

    def start(self) -> "HubServer":
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
