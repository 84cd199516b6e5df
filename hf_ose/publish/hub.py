"""``push_to_hub``: a model folder, or a front's point folders, to the Hugging Face Hub in one commit per
repository or branch, resumable after a failure.

Before each commit the remote tree is listed and every local file is compared with it (sha256 against the LFS
oid, git's blob id against a regular file's), so only missing or changed files are sent: a re-run after a
server failed midway finishes the push without re-sending what arrived, and a re-run after a finished push
commits nothing. Local files are only read, never moved or deleted. The token is passed to ``huggingface_hub``
and nowhere else: never logged, printed or written.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import HfOseError

if TYPE_CHECKING:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

logger = logging.getLogger(__name__)

DEFAULT_MESSAGE = "Upload with hf-ose"
#: Files that hold a model's weights, in PyTorch, ONNX or OpenVINO form.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".xml")


class PushError(HfOseError, RuntimeError):
    """A push cannot start (no token, a malformed repo id, a folder that holds no model) or the server failed."""


@dataclass(frozen=True)
class PushResult:
    """One repository or branch pushed: the files sent in its commit, the files already there unchanged, and
    the commit's URL (``None`` when nothing had changed, so no commit was made)."""

    repo_id: str
    revision: str
    uploaded: list[str]
    unchanged: list[str]
    commit_url: str | None


@dataclass(frozen=True)
class _Target:
    repo_id: str
    revision: str
    root: Path
    files: list[Path]


def push_to_hub(
    folder_or_front: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    branch_per_point: bool = False,
    revision: str | None = None,
    commit_message: str = DEFAULT_MESSAGE,
) -> list[PushResult]:
    """Push a model folder (``config.json`` at its top: model, tokenizer, card, artifacts, reports) to
    ``repo_id`` in one commit on ``revision`` (default ``main``, a missing branch is created).

    A front folder (point folders, each with a ``config.json``) goes to one repository per point,
    ``REPO_ID-POINT``, or with ``branch_per_point`` to ``repo_id`` with one branch per point, named after its
    folder; files at the front folder's top level go to ``repo_id`` on ``revision``. Hidden files are skipped.

    ``token``: else ``HF_TOKEN``, else the token stored by ``hf auth login``. Repositories are created public
    unless ``private``. Raises :class:`PushError` before any network call for a missing token, a repo id that
    is not ``OWNER/NAME``, a folder without a model or offline mode; and when the server fails, saying that a
    re-run finishes the push."""
    from huggingface_hub import HfApi, get_token

    _check_repo_id(repo_id)
    targets = _targets(Path(folder_or_front), repo_id, branch_per_point, revision or "main")
    _warn_without_weights(targets)
    check_online()
    token = token or get_token()
    if not token:
        raise PushError("No Hugging Face token: pass token=, set HF_TOKEN, or log in once with `hf auth login`. "
                        "A write token is needed to create repositories and commit.")
    api = HfApi(token=token)
    with _server_errors():
        for repo in dict.fromkeys(target.repo_id for target in targets):
            api.create_repo(repo, private=private, exist_ok=True)
        return [_push(api, target, commit_message) for target in targets]


def check_online() -> None:
    """Raise :class:`PushError` when ``huggingface_hub`` is in offline mode, where every request fails."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise PushError("HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, so huggingface_hub sends no request and "
                        "cannot push: unset it (`unset HF_HUB_OFFLINE`) on a connected machine and run the push again.")


def _warn_without_weights(targets: list[_Target]) -> None:
    """Warn when model folders to push hold a config but no weights: they would publish as configs only."""
    bare = [target.root.name for target in targets if (target.root / "config.json").is_file()
            and not any(path.suffix in WEIGHT_SUFFIXES for path in target.files)]
    if bare:
        message = (f"{len(bare)} of the folders to push hold a config.json but no weights ({', '.join(bare[:5])}"
                   f"{', ...' if len(bare) > 5 else ''}): they publish as configs that AutoConfig loads, not as "
                   "models. Push the folders `hf-ose inherit` or `hf-ose compress` wrote to publish weights.")
        warnings.warn(message, UserWarning, stacklevel=3)


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PushError(f"{repo_id!r} is not a repository id ({error}). Write OWNER/NAME, e.g. "
                        "my-user/minilm-sst2-ose.") from None
    if repo_id.count("/") != 1:
        raise PushError(f"{repo_id!r} names no owner: write OWNER/NAME (your user or organisation name, a slash, "
                        "then the model's name), e.g. my-user/minilm-sst2-ose.")


def _targets(folder: Path, repo_id: str, branch_per_point: bool, revision: str) -> list[_Target]:
    """What goes where: the folder itself, or each point folder of a front (and the front's own files)."""
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder: pass a model folder (with config.json) or a front folder "
                        "(one sub-folder per point).")
    if (folder / "config.json").is_file():
        return [_Target(repo_id, revision, folder, _files(folder, skip=()))]
    points = sorted(path for path in folder.iterdir() if path.is_dir() and (path / "config.json").is_file())
    if not points:
        raise PushError(f"{folder} holds no model: neither a config.json nor point folders with one. Pass the "
                        "folder the model was saved to, or a front folder.")
    targets = []
    for point in points:
        if branch_per_point:
            targets.append(_Target(repo_id, point.name, point, _files(point, skip=())))
        else:
            point_repo = f"{repo_id}-{point.name}"
            _check_repo_id(point_repo)
            targets.append(_Target(point_repo, revision, point, _files(point, skip=())))
    own = _files(folder, skip=tuple(points))
    if own:
        targets.append(_Target(repo_id, revision, folder, own))
    return targets


def _files(root: Path, skip: tuple[Path, ...]) -> list[Path]:
    """Files under ``root``, hidden ones (and the folders in ``skip``) left out, in a stable order."""
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and not any(path.is_relative_to(folder) for folder in skip)
    )


def _push(api: HfApi, target: _Target, message: str) -> PushResult:
    """Send ``target``'s missing or changed files in one commit; nothing when all are on the server."""
    from huggingface_hub import CommitOperationAdd

    remote = _remote_files(api, target)
    uploaded, unchanged = [], []
    for path in target.files:
        name = path.relative_to(target.root).as_posix()
        (unchanged if name in remote and _same(path, remote[name]) else uploaded).append(name)
    if not uploaded:
        logger.info("%s@%s: all %d files already on the server; nothing to commit.", target.repo_id,
                    target.revision, len(unchanged))
        return PushResult(target.repo_id, target.revision, [], unchanged, None)
    logger.info("%s@%s: committing %d files (%d already there).", target.repo_id, target.revision, len(uploaded),
                len(unchanged))
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(target.root / name)) for name in uploaded]
    commit = api.create_commit(target.repo_id, operations=operations, commit_message=message,
                               revision=target.revision)
    return PushResult(target.repo_id, target.revision, uploaded, unchanged, commit.commit_url)


def _remote_files(api: HfApi, target: _Target) -> dict[str, RepoFile]:
    """The files on ``target``'s branch by path; a missing branch is created from ``main`` first."""
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        tree = list(api.list_repo_tree(target.repo_id, revision=target.revision, recursive=True))
    except RevisionNotFoundError:
        api.create_branch(target.repo_id, branch=target.revision, exist_ok=True)
        tree = list(api.list_repo_tree(target.repo_id, revision=target.revision, recursive=True))
    return {entry.path: entry for entry in tree if hasattr(entry, "blob_id")}


def _same(path: Path, remote: RepoFile) -> bool:
    """Whether the local file equals the remote one: sha256 against an LFS file's oid, git's blob id
    otherwise."""
    size = path.stat().st_size
    if size != remote.size:
        return False
    if remote.lfs is not None:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest() == remote.lfs.sha256
    blob = hashlib.sha1(b"blob %d\0" % size)
    blob.update(path.read_bytes())
    return blob.hexdigest() == remote.blob_id


@contextmanager
def _server_errors() -> Iterator[None]:
    """Turn the client's HTTP and transport errors into :class:`PushError` naming the way to finish."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except PushError:
        raise
    except (HfHubHTTPError, httpx2.HTTPError, RuntimeError) as error:
        response = getattr(error, "response", None)
        if isinstance(error, HfHubHTTPError) and response is not None and response.status_code == 401:
            raise PushError("The server refused the token (401): pass a write token for this namespace "
                            "(token=, HF_TOKEN or `hf auth login`).") from None
        cause = str(error).splitlines()[0]
        raise PushError(f"The push failed on the server side ({cause}). The local folder is untouched; run the "
                        "same push again to finish it: files that already arrived are not sent again.") from error
