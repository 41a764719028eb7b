from __future__ import annotations

import importlib.metadata

import pytest

from hee_monitor.action.fixes.strategies.dependencies import (
    BumpDependencyStrategy,
    PinDependencyStrategy,
    RegenerateLockfileStrategy,
    check_at_least,
    check_pinned,
)
from hee_monitor.action.fixes.strategies.interface import FixContext
from hee_monitor.core.errors import FixError
from tests.action.fixes.conftest import Repo, make_finding

CLICK = importlib.metadata.version("click")


def test_pins_requirements_pyproject_and_package_json_keeping_comments(repo: Repo) -> None:
    repo.write("requirements.txt", "# runtime\nclick  # cli\nPyYAML>=6.0\nrich==13.0.0\n-e .\n")
    repo.write(
        "pyproject.toml",
        '[project]\nname = "x"\ndependencies = [\n  "click>=8", # keep\n'
        '  "SQLAlchemy[asyncio]",\n]\n\n[tool.other]\ndependencies = ["not-me"]\n',
    )
    repo.write(
        "package.json",
        '{\n  "name": "x",\n  "dependencies": {\n    "left-pad": "^1.3.0",\n'
        '    "exact": "2.0.0"\n  }\n}\n',
    )
    ctx = FixContext(repo=repo.path)
    strategy = PinDependencyStrategy()
    assert not check_pinned(repo.path, ())[0]
    plan = strategy.plan(ctx)
    assert plan.files == ("package.json", "pyproject.toml", "requirements.txt")
    strategy.apply(ctx)
    assert check_pinned(repo.path, ()) == (True, "every dependency is pinned")
    yaml_version = importlib.metadata.version("PyYAML")
    sqla = importlib.metadata.version("SQLAlchemy")
    assert (repo.path / "requirements.txt").read_text() == (
        f"# runtime\nclick=={CLICK}  # cli\nPyYAML=={yaml_version}\nrich==13.0.0\n-e .\n"
    )
    assert (
        f'  "click=={CLICK}", # keep\n  "SQLAlchemy[asyncio]=={sqla}",\n'
        in (repo.path / "pyproject.toml").read_text()
    )
    assert 'dependencies = ["not-me"]' in (repo.path / "pyproject.toml").read_text()
    assert '"left-pad": "1.3.0",' in (repo.path / "package.json").read_text()


def test_pin_uses_the_version_the_finding_names(repo: Repo) -> None:
    repo.write("requirements.txt", "click\nrequests>=2\n")
    finding = make_finding("pin-dependency", details={"package": "click", "version": "8.0.0"})
    PinDependencyStrategy().apply(FixContext(repo=repo.path, finding=finding))
    assert (repo.path / "requirements.txt").read_text() == "click==8.0.0\nrequests>=2\n"


def test_pin_without_any_known_version_fails_clearly(repo: Repo) -> None:
    repo.write("requirements.txt", "surely-not-installed-hee-pkg\n")
    with pytest.raises(FixError, match="no version known for surely-not-installed-hee-pkg"):
        PinDependencyStrategy().apply(FixContext(repo=repo.path))


def test_bump_raises_to_the_patched_version(repo: Repo) -> None:
    repo.write("requirements.txt", "jinja2==2.11.0\nflask>=1.0 ; python_version > '3.8'\n")
    for package, version in (("jinja2", "3.1.4"), ("flask", "2.2.5")):
        finding = make_finding("bump-dependency", details={"package": package, "version": version})
        ctx = FixContext(repo=repo.path, finding=finding)
        strategy = BumpDependencyStrategy()
        (check,) = strategy.plan(ctx).validation
        assert not check.run(repo.path).passed
        strategy.apply(ctx)
        assert check.run(repo.path).passed
    assert (repo.path / "requirements.txt").read_text() == (
        'jinja2==3.1.4\nflask>=2.2.5; python_version > "3.8"\n'
    )
    assert check_at_least(repo.path, ("jinja2", "3.2"))[0] is False


def test_bump_needs_package_and_version(repo: Repo) -> None:
    with pytest.raises(FixError, match="needs the package and the version"):
        BumpDependencyStrategy().plan(FixContext(repo=repo.path, finding=make_finding("x")))


def test_regenerate_lockfile_names_what_it_knows(repo: Repo) -> None:
    repo.write("package.json", "{}\n")
    with pytest.raises(FixError, match="no lock file"):
        RegenerateLockfileStrategy().plan(FixContext(repo=repo.path))
    repo.write("package-lock.json", "{}\n")
    plan = RegenerateLockfileStrategy().plan(FixContext(repo=repo.path))
    assert plan.commands == (("npm", "install", "--package-lock-only", "--ignore-scripts"),)
    assert plan.files == ("package-lock.json",)
