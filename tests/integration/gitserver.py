"""Real Git servers on 127.0.0.1 for tests: `git daemon` and `git http-backend` with auth.

    with GitDaemon(tmp_path) as server:
        repo = server.create_repo("apps", {"guestbook/svc.yaml": "..."})
        url = server.url("apps")                     # git://127.0.0.1:PORT/apps
        sha = repo.commit({"guestbook/svc.yaml": "..."}, "change the service")
        repo.tag("v1"); repo.branch("release", at=sha)

`GitHttpServer` serves the same repositories over smart HTTP (the `git http-backend`
CGI under a stdlib HTTP server) and answers 401 unless the request carries the basic-auth
username and password it was given, so credential handling is tested against a real
server. Each records the `Authorization` headers it saw.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

__all__ = ["GitDaemon", "GitHttpServer", "TestRepo", "free_port"]

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, **_GIT_ENV}, check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


class TestRepo:
    """A work-tree repository the servers export; commits go straight into it."""

    __test__ = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def commit(self, files: dict[str, str | None], message: str = "change") -> str:
        """Write (or, with None, delete) files and commit them; the new commit's sha."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        _git(self.path, "add", "--all")
        _git(self.path, "commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def copy_tree(self, source: Path, into: str = "") -> str:
        """Copy a directory's files into the repository (under `into`) and commit them."""
        shutil.copytree(source, self.path / into, dirs_exist_ok=True)
        _git(self.path, "add", "--all")
        _git(self.path, "commit", "--quiet", "-m", f"add {source.name}")
        return self.head()

    def head(self) -> str:
        return _git(self.path, "rev-parse", "HEAD")

    def tag(self, name: str, *, at: str = "HEAD", annotated: bool = False) -> None:
        args = ["-a", "-m", f"tag {name}"] if annotated else []
        _git(self.path, "tag", "--force", *args, name, at)

    def branch(self, name: str, *, at: str = "HEAD") -> None:
        _git(self.path, "branch", "--force", name, at)

    def checkout(self, branch: str) -> None:
        _git(self.path, "checkout", "--quiet", branch)

    def delete_branch(self, name: str) -> None:
        _git(self.path, "branch", "--quiet", "--delete", "--force", name)


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root / "served"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = 0

    def create_repo(self, name: str, files: dict[str, str | None] | None = None,
                    *, branch: str = "main") -> TestRepo:
        path = self.root / name
        path.mkdir(parents=True)
        _git(path, "init", "--quiet", "--initial-branch", branch)
        repo = TestRepo(path)
        if files:
            repo.commit(files, "initial commit")
        return repo

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class GitDaemon(_Server):
    """`git daemon` exporting every repository under its root, on a free port."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> GitDaemon:
        self.start()
        return self

    def start(self) -> None:
        self.port = free_port()
        self._process = subprocess.Popen(
            ["git", "daemon", f"--base-path={self.root}", "--export-all", "--reuseaddr",
             "--informative-errors", f"--port={self.port}", "--listen=127.0.0.1", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError("git daemon did not start listening")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


class GitHttpServer(_Server):
    """Smart HTTP via `git http-backend`, requiring basic auth `username:password`."""

    def __init__(self, root: Path, username: str, password: str) -> None:
        super().__init__(root)
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.authorizations: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> GitHttpServer:
        self.start()
        return self

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                authorization = self.headers.get("Authorization", "")
                if authorization:
                    server.authorizations.append(authorization)
                if authorization != server.expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                env = {
                    **os.environ, "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": self.command,
                    "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_USER": "test",
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                }
                result = subprocess.run(["git", "http-backend"], input=body, env=env,
                                        capture_output=True, timeout=60, check=False)
                head, _, payload = result.stdout.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode("latin-1").split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
