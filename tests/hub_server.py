"""A TEST DOUBLE of the Hugging Face Hub: a small in-memory HTTP server on 127.0.0.1 that implements the endpoints
``huggingface_hub`` (2.x, with ``HF_HUB_DISABLE_XET=1``) and ``from_pretrained`` use to push and pull a model.

It is not a Hub: no accounts beyond one token, no permissions, no pagination, no Xet. It exists so the push
tests talk HTTP to a real server through ``HF_ENDPOINT``. Endpoints: whoami, create repo, model info (optionally
at a revision), refs, preupload, validate-yaml, NDJSON commit (inline base64 and LFS), the LFS batch API and the
upload PUT it points to, create branch, tree listing, paths-info, and resolve (HEAD and GET, with ETag,
X-Repo-Commit and Content-Length). Every request is logged (:attr:`HubServer.log`); :meth:`HubServer.fail_from`
makes the Nth upload request (an LFS PUT or a commit) and every later one answer 500, like a server that goes
down midway.

Run by hand: ``python tests/hub_server.py`` prints its endpoint and serves until interrupted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

#: Files the server stores through LFS (the Hub's default .gitattributes patterns, abridged).
LFS_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".pth", ".h5", ".msgpack", ".png", ".xml", ".ot", ".model")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()


def git_blob_id(data: bytes) -> str:
    """Git's object id of a blob holding ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    """A file in a commit: its bytes, and its sha256 when it is stored through LFS."""

    data: bytes
    lfs_oid: str | None = None

    def entry(self, path: str) -> dict[str, object]:
        """The file as the tree and paths-info endpoints describe it."""
        if self.lfs_oid is None:
            return {"type": "file", "path": path, "size": len(self.data), "oid": git_blob_id(self.data)}
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.lfs_oid}\nsize {len(self.data)}\n"
        return {"type": "file", "path": path, "size": len(self.data), "oid": git_blob_id(pointer.encode()),
                "lfs": {"oid": self.lfs_oid, "size": len(self.data), "pointerSize": len(pointer)}}

    @property
    def etag(self) -> str:
        return self.lfs_oid or git_blob_id(self.data)


@dataclass
class Repo:
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit id
    commits: dict[str, dict[str, StoredFile]] = field(default_factory=dict)  # commit id -> files

    def commit(self, branch: str, files: dict[str, StoredFile]) -> str:
        oid = hashlib.sha1(os.urandom(20)).hexdigest()
        self.commits[oid] = files
        self.branches[branch] = oid
        return oid

    def files(self, revision: str) -> dict[str, StoredFile] | None:
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)


class HubServer:
    """The test double, serving in a daemon thread on 127.0.0.1 at a random port; use as a context manager.

    ``token``: the only token accepted for writes (reads need none). ``log``: ``(method, path)`` of every
    request, in order. ``uploads``: the LFS oids received by successful upload PUTs, in order. ``commits``:
    ``(repo_id, branch)`` of every successful commit."""

    def __init__(self, token: str = "hf_test_double_token") -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []
        self.uploads: list[str] = []
        self.commits: list[tuple[str, str]] = []
        self._upload_requests = 0
        self._fail_from: int | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail_from(self, n: int | None) -> None:
        """Answer 500 to the ``n``-th upload request (1-based, counted from now) and every later one; ``None``
        heals the server."""
        with self._lock:
            self._upload_requests = 0
            self._fail_from = n

    def _upload_fails(self) -> bool:
        with self._lock:
            self._upload_requests += 1
            return self._fail_from is not None and self._upload_requests >= self._fail_from


class _Reply(Exception):
    def __init__(self, status: int, body: object = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # the request log replaces stderr noise
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        # ---- plumbing --------------------------------------------------------------------------------
        def _serve(self) -> None:
            url = urlsplit(self.path)
            path, query = unquote(url.path), parse_qs(url.query)
            body = self._body()
            with hub._lock:
                hub.log.append((self.command, path))
            try:
                reply = _Reply(200, self._route(path, query, body))
            except _Reply as raised:
                reply = raised
            self._send(reply)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, reply: _Reply) -> None:
            if isinstance(reply.body, bytes):
                data, kind = reply.body, "application/octet-stream"
            else:
                data, kind = json.dumps(reply.body).encode(), "application/json"
            self.send_response(reply.status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _authorised(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {hub.token}":
                raise _error(401, "Unauthorized", "Invalid credentials in Authorization header")

        # ---- routes ------------------------------------------------------------------------------------
        def _route(self, path: str, query: dict[str, list[str]], body: bytes) -> object:
            parts = path.strip("/").split("/")
            if path == "/api/whoami-v2":
                self._authorised()
                return {"type": "user", "name": "tester", "auth": {"accessToken": {"role": "write"}}}
            if path == "/api/repos/create":
                return self._create_repo(json.loads(body))
            if path == "/api/validate-yaml":
                return {}
            if path.startswith("/lfs-upload/"):
                return self._lfs_put(parts[-1], body)
            if len(parts) == 6 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]:
                self._authorised()
                return self._lfs_batch(json.loads(body))
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                return self._api(f"{parts[2]}/{parts[3]}", parts[4:], query, body)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            raise _error(404, "NotFound", f"the test double does not serve {self.command} {path}")

        def _repo(self, repo_id: str) -> Repo:
            if repo_id not in hub.repos:
                raise _error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return hub.repos[repo_id]

        def _files(self, repo_id: str, revision: str) -> tuple[str, dict[str, StoredFile]]:
            repo = self._repo(repo_id)
            files = repo.files(revision)
            if files is None:
                raise _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return repo.branches.get(revision, revision), files

        def _create_repo(self, payload: dict[str, object]) -> object:
            self._authorised()
            repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
            with hub._lock:
                if repo_id in hub.repos:  # the Hub names the existing repository in its 409
                    message = "You already created this model repo"
                    raise _Reply(409, {"error": message, "url": f"{hub.endpoint}/{repo_id}"},
                                 {"X-Error-Code": "Conflict", "X-Error-Message": message})
                repo = Repo(private=payload.get("visibility") == "private" or bool(payload.get("private")))
                repo.commit("main", {".gitattributes": StoredFile(GITATTRIBUTES)})
                hub.repos[repo_id] = repo
            return {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id}

        def _api(self, repo_id: str, rest: list[str], query: dict[str, list[str]], body: bytes) -> object:
            action = rest[0] if rest else None
            if action in (None, "revision"):
                revision = rest[1] if action == "revision" else "main"
                oid, files = self._files(repo_id, revision)
                return {"id": repo_id, "modelId": repo_id, "sha": oid, "private": hub.repos[repo_id].private,
                        "tags": [], "siblings": [{"rfilename": name} for name in sorted(files)]}
            if action == "refs":
                repo = self._repo(repo_id)
                return {"branches": [{"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
                                     for name, oid in sorted(repo.branches.items())], "tags": [], "converts": []}
            if action == "tree":
                _, files = self._files(repo_id, rest[1])
                prefix = "/".join(rest[2:])
                return [files[name].entry(name) for name in sorted(files)
                        if not prefix or name == prefix or name.startswith(prefix + "/")]
            if action == "paths-info":
                _, files = self._files(repo_id, rest[1])
                wanted = parse_qs(body.decode()).get("paths", [])
                return [files[name].entry(name) for name in wanted if name in files]
            self._authorised()
            if action == "preupload":
                return self._preupload(repo_id, rest[1], json.loads(body))
            if action == "commit":
                return self._commit(repo_id, rest[1], body)
            if action == "branch":
                return self._create_branch(repo_id, rest[1], json.loads(body or b"{}"))
            raise _error(404, "NotFound", f"the test double does not serve /api/models/{repo_id}/{action}")

        def _preupload(self, repo_id: str, revision: str, payload: dict[str, list[dict[str, object]]]) -> object:
            _, files = self._files(repo_id, revision)
            answer = []
            for item in payload["files"]:
                name = str(item["path"])
                lfs = name.endswith(LFS_SUFFIXES) or b"\0" in base64.b64decode(str(item["sample"]))
                stored = files.get(name)
                answer.append({"path": name, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                               "oid": None if stored is None else stored.etag})
            return {"files": answer}

        def _lfs_batch(self, payload: dict[str, list[dict[str, object]]]) -> object:
            objects = []
            for item in payload["objects"]:
                entry = {"oid": item["oid"], "size": item["size"]}
                if item["oid"] not in hub.lfs:
                    entry["actions"] = {"upload": {"href": f"{hub.endpoint}/lfs-upload/{item['oid']}"}}
                objects.append(entry)
            return {"transfer": "basic", "objects": objects}

        def _lfs_put(self, oid: str, body: bytes) -> object:
            if hub._upload_fails():
                raise _error(500, "InternalError", "injected fault: the server fails midway")
            if hashlib.sha256(body).hexdigest() != oid:
                raise _error(400, "BadRequest", "the uploaded content does not match its oid")
            with hub._lock:
                hub.lfs[oid] = body
                hub.uploads.append(oid)
            return {}

        def _commit(self, repo_id: str, revision: str, body: bytes) -> object:
            if hub._upload_fails():
                raise _error(500, "InternalError", "injected fault: the server fails midway")
            repo = self._repo(repo_id)
            with hub._lock:
                _, files = self._files(repo_id, revision)
                files = dict(files)
                for line in body.splitlines():
                    item = json.loads(line)
                    value = item["value"]
                    if item["key"] == "file":
                        files[value["path"]] = StoredFile(base64.b64decode(value["content"]))
                    elif item["key"] == "lfsFile":
                        if value["oid"] not in hub.lfs:
                            raise _error(422, "BadRequest", f"LFS object {value['oid']} was never uploaded")
                        files[value["path"]] = StoredFile(hub.lfs[value["oid"]], value["oid"])
                    elif item["key"] == "deletedFile":
                        files.pop(value["path"], None)
                oid = repo.commit(revision, files)
                hub.commits.append((repo_id, revision))
            return {"commitUrl": f"{hub.endpoint}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}

        def _create_branch(self, repo_id: str, branch: str, payload: dict[str, str]) -> object:
            repo = self._repo(repo_id)
            with hub._lock:
                if branch in repo.branches:
                    raise _error(409, "Conflict", f"Branch {branch} already exists")
                start, _ = self._files(repo_id, payload.get("startingPoint", "main"))
                repo.branches[branch] = start
            return {}

        def _resolve(self, repo_id: str, revision: str, name: str) -> object:
            oid, files = self._files(repo_id, revision)
            if name not in files:
                raise _error(404, "EntryNotFound", f"{name} does not exist on {revision}")
            stored = files[name]
            headers = {"ETag": f'"{git_blob_id(stored.data)}"', "X-Repo-Commit": oid}
            if stored.lfs_oid is not None:
                headers.update({"X-Linked-Etag": f'"{stored.lfs_oid}"', "X-Linked-Size": str(len(stored.data))})
            raise _Reply(200, stored.data, headers)

    return Handler


if __name__ == "__main__":
    with HubServer() as server:
        print(f"Test double of the Hub at {server.endpoint} (token {server.token}); Ctrl-C stops it.")
        threading.Event().wait()
