"""The build context: `.dockerignore` read and matched by Docker's rules, the files the CLI sends, bad folders."""
from __future__ import annotations

import os
import tarfile

import pytest

from helpers.context import Ignore, check, files, heavy, read_ignore, tar
from helpers.errors import BadInput


@pytest.mark.parametrize("pattern, path, excluded", [
    ("**", "file", True), ("**", "dir/file", True), ("**/", "file", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/dir2/file", True), ("abc/**", "abc", False),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True),  # a matched folder excludes what is below it
    ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "dir/dir/file", True), ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False), ("**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True), ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True),
    ("*.txt", "dir/file.txt", False),  # * stays in its folder: not .gitignore's rule
    ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True),
    (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True),
    ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/dir2/foo/bar", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a.|)$(}+{bc", "a.|)$(}+{bc", True), ("a\\*b", "a*b", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("node_modules", "node_modules/x/y.js", True), ("/build/", "build/out.o", True), ("./tmp//a/../b", "tmp/b", True),
])
def test_one_pattern_matches_as_dockers_matcher_does(pattern, path, excluded):
    assert Ignore(read_ignore(pattern)).excluded(path)[0] is excluded


@pytest.mark.parametrize("patterns, path, excluded", [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/a-1.0-py3-none-any.whl", False),
    (["docs", "!docs/README.md"], "docs/README.md", False), (["docs", "!docs/README.md"], "docs/other.md", True),
    (["!docs/README.md", "docs"], "docs/README.md", True),  # the last pattern that matches decides
])
def test_the_last_matching_pattern_decides(patterns, path, excluded):
    assert Ignore(patterns).excluded(path)[0] is excluded


def test_the_ignore_file_is_read_as_docker_reads_it():
    text = "\ufeff# a comment\n\n  *.pyc  \n/build/\n!  keep.pyc\n # not a comment: a pattern\nsrc//a/../b\n"
    assert read_ignore(text) == ["*.pyc", "build", "!keep.pyc", "# not a comment: a pattern", "src/b"]


def test_a_lone_exclamation_mark_and_a_broken_class_are_named():
    with pytest.raises(BadInput, match='only "!"'):
        Ignore(["!"])
    with pytest.raises(BadInput, match="not a valid pattern"):
        Ignore(["a[b"])


def project(root, ignore: str | None, names: list[str]):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    if ignore is not None:
        (root / ".dockerignore").write_text(ignore)
    return root


NAMES = ["Dockerfile", "app/__init__.py", "app/main.py", "app/cache/x.pyc", "docs/README.md", "docs/guide.md",
         "tests/test_app.py", "notes.txt", ".git/HEAD"]


@pytest.mark.parametrize("ignore, sent", [
    (None, [".git", ".git/HEAD", "Dockerfile", "app", "app/__init__.py", "app/cache", "app/cache/x.pyc",
            "app/main.py", "docs", "docs/README.md", "docs/guide.md", "notes.txt", "tests", "tests/test_app.py"]),
    (".git\n**/*.pyc\ntests\n*.txt\n", [".dockerignore", "Dockerfile", "app", "app/__init__.py", "app/cache",
                                        "app/main.py", "docs", "docs/README.md", "docs/guide.md"]),
    # an excluded folder is walked only when a ! pattern starts with it; its own entry is not sent
    ("*\n!app\n!docs/README.md\n", [".dockerignore", "Dockerfile", "app", "app/__init__.py", "app/cache",
                                     "app/cache/x.pyc", "app/main.py", "docs/README.md"]),
    ("docs\n!**/README.md\n", [".dockerignore", ".git", ".git/HEAD", "Dockerfile", "app", "app/__init__.py",
                                "app/cache", "app/cache/x.pyc", "app/main.py", "notes.txt", "tests",
                                "tests/test_app.py"]),  # Docker's quirk: docs/README.md stays out
    ("Dockerfile\n.dockerignore\n**\n", [".dockerignore", "Dockerfile"]),  # the CLI always sends both
])
def test_the_context_holds_what_the_cli_sends(tmp_path, ignore, sent):
    assert files(project(tmp_path, ignore, NAMES)) == sent


def test_the_context_tar_keeps_folders_links_and_modes_owned_by_root(tmp_path):
    root = project(tmp_path, "*.log\n", ["Dockerfile", "bin/run.sh", "debug.log"])
    (root / "bin/run.sh").chmod(0o750)
    os.symlink("bin/run.sh", root / "run")
    with tarfile.open(fileobj=tar(root)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert sorted(members) == [".dockerignore", "Dockerfile", "bin", "bin/run.sh", "run"]
    assert members["run"].issym() and members["run"].linkname == "bin/run.sh"
    assert members["bin/run.sh"].mode & 0o777 == 0o750 and members["bin"].isdir()
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}
    assert all(isinstance(m.mtime, int) for m in members.values())


def test_bad_folders_get_one_message_naming_the_problem(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        check(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInput, match="is a file, not a folder"):
        check(tmp_path / "file")
    with pytest.raises(BadInput, match="There is no Dockerfile"):
        check(tmp_path)
    with pytest.raises(BadInput, match="There is no Dockerfile.web"):
        check(tmp_path, "Dockerfile.web")
    with pytest.raises(BadInput, match="outside the folder"):
        check(tmp_path, "../Dockerfile")


def test_a_heavy_context_is_named_with_its_heaviest_folders(tmp_path):
    project(tmp_path, None, ["Dockerfile", "src/app.py"])
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data/dump.bin", "wb") as f:
        f.truncate(3 << 29)  # 1.5 GiB, sparse
    assert heavy(tmp_path, files(tmp_path, "Dockerfile")[:2]) is None  # data/ left out
    warning = heavy(tmp_path, files(tmp_path))
    assert warning.startswith("The build context is 1.5 GiB") and "data (1.5 GiB)" in warning
    assert ".dockerignore" in warning
