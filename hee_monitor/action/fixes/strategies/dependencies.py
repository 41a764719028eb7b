"""Pin or bump a dependency, or regenerate a lock file.

Manifests are edited line by line so comments, order and formatting survive:
``requirements*.txt``, the ``[project] dependencies`` array of ``pyproject.toml`` and the
dependency maps of ``package.json``. Versions are parsed with ``packaging``.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from hee_monitor.action.fixes.files import read_text, repo_files, write_preserving_mode
from hee_monitor.action.fixes.strategies.interface import (
    Check,
    FixContext,
    FixPlan,
    Requirements,
    Safety,
    validation_for,
)
from hee_monitor.core.errors import FixError

REQUIREMENTS_GLOBS = ("requirements*.txt", "requirements/*.txt")
MANIFEST_GLOBS = (*REQUIREMENTS_GLOBS, "pyproject.toml", "package.json")
_NPM_SECTIONS = ("dependencies", "devDependencies", "optionalDependencies")


@dataclass(frozen=True)
class Dep:
    """One dependency declaration found in a manifest."""

    file: str
    line: int  # 0-based line index
    name: str
    spec: str  # the specifier text as written ("" when unpinned)
    raw: str  # the requirement text as written (between quotes for TOML/JSON)
    ecosystem: str  # "python" | "npm"


def _python_req(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _requirements_deps(name: str, text: str) -> list[Dep]:
    deps = []
    for i, line in enumerate(text.splitlines()):
        body = line.split(" #", 1)[0].strip()
        if not body or body.startswith(("#", "-")) or "://" in body:
            continue
        req = _python_req(body)
        if req is not None:
            deps.append(Dep(name, i, req.name, str(req.specifier), body, "python"))
    return deps


def _pyproject_deps(name: str, text: str) -> list[Dep]:
    deps = []
    section = ""
    in_array = False
    for i, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if stripped.startswith("[") and not in_array:
            section = stripped
            continue
        opening = section == "[project]" and re.match(r"^dependencies\s*=\s*\[", stripped)
        if opening:
            in_array = True
        if not in_array:
            continue
        for quoted in re.findall(r"\"([^\"]+)\"|'([^']+)'", line):
            body = quoted[0] or quoted[1]
            req = _python_req(body)
            if req is not None:
                deps.append(Dep(name, i, req.name, str(req.specifier), body, "python"))
        code = re.sub(r"\"[^\"]*\"|'[^']*'", "", line).split("#", 1)[0]
        if opening:
            code = code.split("[", 1)[1]
        if "]" in code:
            in_array = False
    return deps


def _package_json_deps(name: str, text: str) -> list[Dep]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    wanted: dict[str, str] = {}
    for section in _NPM_SECTIONS:
        for pkg, spec in (data.get(section) or {}).items():
            if isinstance(spec, str):
                wanted[pkg] = spec
    deps = []
    for i, line in enumerate(text.splitlines()):
        m = re.match(r'^\s*"([^"]+)"\s*:\s*"([^"]*)"', line)
        if m and m.group(1) in wanted and wanted[m.group(1)] == m.group(2):
            deps.append(Dep(name, i, m.group(1), m.group(2), m.group(2), "npm"))
    return deps


def manifest_deps(repo: Path) -> list[Dep]:
    deps: list[Dep] = []
    for name in repo_files(repo, MANIFEST_GLOBS):
        text = read_text(repo / name)
        if name.endswith(".txt"):
            deps += _requirements_deps(name, text)
        elif name.endswith("pyproject.toml"):
            deps += _pyproject_deps(name, text)
        elif name.endswith("package.json"):
            deps += _package_json_deps(name, text)
    return deps


def is_pinned(dep: Dep) -> bool:
    if dep.ecosystem == "npm":
        return bool(re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][\w.\-+]*)?", dep.spec))
    specs = list(SpecifierSet(dep.spec))
    return len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version


def _lower_bound(spec: str) -> str | None:
    for s in SpecifierSet(spec):
        if s.operator in (">=", "~=", "=="):
            return s.version.rstrip(".*")
    return None


def _version_for(ctx: FixContext, dep: Dep) -> str | None:
    """Where a pin comes from: the finding, the environment hee-monitor runs in, the range."""
    if ctx.detail("package") and canonicalize_name(str(ctx.detail("package"))) == (
        canonicalize_name(dep.name)
    ):
        version = ctx.detail("version")
        if version:
            return str(version)
    if dep.ecosystem == "npm":
        m = re.search(r"\d+\.\d+\.\d+(?:[-+][\w.\-+]*)?", dep.spec)
        return m.group(0) if m else None
    try:
        return importlib.metadata.version(dep.name)
    except importlib.metadata.PackageNotFoundError:
        return _lower_bound(dep.spec)


def _rewrite(repo: Path, dep: Dep, new_raw: str) -> None:
    path = repo / dep.file
    lines = read_text(path).splitlines(keepends=True)
    line = lines[dep.line]
    if dep.ecosystem == "npm":
        new_line = re.sub(
            r'^(\s*"' + re.escape(dep.name) + r'"\s*:\s*")([^"]*)(")',
            lambda m: m.group(1) + new_raw + m.group(3),
            line,
            count=1,
        )
    else:
        new_line = line.replace(dep.raw, new_raw, 1)
    if new_line == line:
        raise FixError(f"{dep.file}:{dep.line + 1}: could not rewrite {dep.raw!r}")
    lines[dep.line] = new_line
    write_preserving_mode(path, "".join(lines))


def _with_spec(dep: Dep, spec: str) -> str:
    """The requirement text with its specifier replaced, extras and markers kept."""
    if dep.ecosystem == "npm":
        return spec
    req = Requirement(dep.raw)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    name_as_written = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", dep.raw)
    name = name_as_written.group(1) if name_as_written else req.name
    return f"{name}{extras}{spec}{marker}"


class PinDependencyStrategy:
    """Pin every unpinned dependency (or the one the finding names) to an exact version."""

    id = "pin-dependency"
    risk = 4
    safety = Safety.MEDIUM
    requirements = Requirements(files=MANIFEST_GLOBS)

    def _targets(self, ctx: FixContext) -> list[tuple[Dep, str | None]]:
        only = ctx.detail("package")
        return [
            (dep, _version_for(ctx, dep))
            for dep in manifest_deps(ctx.repo)
            if not is_pinned(dep)
            and (only is None or canonicalize_name(str(only)) == canonicalize_name(dep.name))
        ]

    def plan(self, ctx: FixContext) -> FixPlan:
        targets = self._targets(ctx)
        edits = tuple(
            f"{d.file}:{d.line + 1}: {d.raw} -> "
            + (_with_spec(d, _pin(d, v)) if v else "(no version known: left unpinned)")
            for d, v in targets
        )
        return FixPlan(
            strategy=self.id,
            description=f"pin {len(targets)} unpinned dependency declaration(s)",
            commands=(),
            files=tuple(sorted({d.file for d, _ in targets})),
            edits=edits,
            validation=validation_for(
                ctx,
                self.id,
                (Check("dependencies pinned", builtin="pinned-dependencies", impl=check_pinned),),
            ),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        done = []
        for dep, version in self._targets(ctx):
            if version is None:
                raise FixError(
                    f"{dep.file}:{dep.line + 1}: no version known for {dep.name}",
                    hint="name the version in the finding or install the package where "
                    "hee-monitor runs",
                )
            # re-read: an earlier edit may have shifted nothing, but the file changed
            new = _with_spec(dep, _pin(dep, version))
            _rewrite(ctx.repo, dep, new)
            done.append(f"{dep.file}: {dep.raw} -> {new}")
        return "\n".join(done) or "nothing to pin"


def _pin(dep: Dep, version: str) -> str:
    return version if dep.ecosystem == "npm" else f"=={version}"


@dataclass(frozen=True)
class Bump:
    package: str
    version: str | None
    installed: str | None = None
    advisories: tuple[str, ...] = ()


class BumpDependencyStrategy:
    """Raise dependencies to at least the versions the finding names (the versions that fix
    a vulnerability, with its advisory ids, as a security scanner's log gives them)."""

    id = "bump-dependency"
    risk = 5
    safety = Safety.MEDIUM
    requirements = Requirements(files=MANIFEST_GLOBS)

    def _bumps(self, ctx: FixContext) -> list[Bump]:
        bumps: list[Bump] = []
        ups = ctx.detail("upgrades")
        if isinstance(ups, list):
            for up in ups:
                if isinstance(up, dict) and up.get("package"):
                    bumps.append(
                        Bump(
                            str(up["package"]),
                            str(up["fixed"]) if up.get("fixed") else None,
                            str(up["installed"]) if up.get("installed") else None,
                            tuple(str(a) for a in up.get("advisories") or ()),
                        )
                    )
        package, version = ctx.detail("package"), ctx.detail("version")
        if not bumps and package:
            bumps.append(Bump(str(package), str(version) if version else None))
        if not bumps:
            raise FixError(
                "bump-dependency needs the package and the version to reach",
                hint="the log names no vulnerable package; the finding's details must carry "
                "'package' and 'version'",
            )
        for b in bumps:
            if b.version is not None:
                try:
                    Version(b.version)
                except InvalidVersion:
                    raise FixError(f"{b.version!r} is not a valid version") from None
        return bumps

    def _deps(self, ctx: FixContext, package: str) -> list[Dep]:
        return [
            d
            for d in manifest_deps(ctx.repo)
            if canonicalize_name(d.name) == canonicalize_name(package)
        ]

    def _new_spec(self, dep: Dep, version: str) -> str | None:
        if dep.ecosystem == "npm":
            prefix = re.match(r"^[\^~]?", dep.spec)
            return (prefix.group(0) if prefix else "") + version
        if satisfies_minimum(dep, version):
            return None
        return f"=={version}" if is_pinned(dep) else f">={version}"

    def plan(self, ctx: FixContext) -> FixPlan:
        bumps = self._bumps(ctx)
        edits: list[str] = []
        files: set[str] = set()
        checks: list[Check] = []
        for b in bumps:
            ids = ", ".join(b.advisories) or "no advisory id given"
            deps = self._deps(ctx, b.package)
            if b.version is None:
                edits.append(f"{b.package} {b.installed or ''}: no fixed version published "
                             f"({ids}); a person has to decide")  # fmt: skip
                continue
            if not deps:
                edits.append(
                    f"{b.package} {b.installed or ''} -> {b.version} ({ids}): not declared in "
                    "a manifest (a transitive dependency); update the lock file"
                )
            for d in deps:
                spec = self._new_spec(d, b.version)
                files.add(d.file)
                if spec is not None:
                    edits.append(f"{d.file}:{d.line + 1}: {d.raw} -> {_with_spec(d, spec)} ({ids})")
            checks.append(
                Check(
                    f"{b.package} >= {b.version}",
                    builtin="dependency-at-least",
                    impl=check_at_least,
                    args=(b.package, b.version),
                )
            )
        names = ", ".join(f"{b.package} to {b.version}" for b in bumps if b.version)
        advisories = sorted({a for b in bumps for a in b.advisories})
        return FixPlan(
            strategy=self.id,
            description=f"raise {names or 'nothing (no fixed version known)'}"
            + (f" for {', '.join(advisories)}" if advisories else ""),
            commands=(),
            files=tuple(sorted(files)),
            edits=tuple(edits),
            validation=validation_for(ctx, self.id, tuple(checks)),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        done = []
        for b in self._bumps(ctx):
            if b.version is None:
                raise FixError(f"no fixed version of {b.package} is known")
            deps = self._deps(ctx, b.package)
            if not deps:
                raise FixError(f"{b.package} is not declared in any manifest of the repository")
            for dep in deps:
                spec = self._new_spec(dep, b.version)
                if spec is not None:
                    new = _with_spec(dep, spec)
                    _rewrite(ctx.repo, dep, new)
                    done.append(f"{dep.file}: {dep.raw} -> {new}")
        return "\n".join(done) or "every package already allows its fixed version"


def satisfies_minimum(dep: Dep, version: str) -> bool:
    """True when every version the declaration allows is at least ``version``."""
    minimum = Version(version)
    if dep.ecosystem == "npm":
        m = re.search(r"\d+\.\d+\.\d+", dep.spec)
        return m is not None and Version(m.group(0)) >= minimum
    specs = list(SpecifierSet(dep.spec))
    for s in specs:
        exact_or_lower = s.operator in ("==", "===", ">=", "~=") and "*" not in s.version
        if exact_or_lower and Version(s.version) >= minimum:
            return True
        if s.operator == ">" and Version(s.version) >= minimum:
            return True
    return False


def check_pinned(repo: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    loose = [f"{d.file}:{d.line + 1}: {d.raw}" for d in manifest_deps(repo) if not is_pinned(d)]
    if loose:
        return False, "unpinned dependencies:\n" + "\n".join(loose)
    return True, "every dependency is pinned"


def check_at_least(repo: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    package, version = args[0], args[1]
    wanted = canonicalize_name(package)
    deps = [d for d in manifest_deps(repo) if canonicalize_name(d.name) == wanted]
    if not deps:
        return False, f"{package} is not declared"
    low = [f"{d.file}:{d.line + 1}: {d.raw}" for d in deps if not satisfies_minimum(d, version)]
    if low:
        return False, f"{package} may resolve below {version}:\n" + "\n".join(low)
    return True, f"{package} is at least {version} everywhere"


@dataclass(frozen=True)
class _Lock:
    lockfile: str
    manifest: str
    tool: str
    regenerate: tuple[str, ...]
    verify: tuple[str, ...]


#: lock file → how to regenerate it and how to prove it matches its manifest again
LOCKFILES: tuple[_Lock, ...] = (
    _Lock("package-lock.json", "package.json", "npm",
          ("npm", "install", "--package-lock-only", "--ignore-scripts"),
          ("npm", "ci", "--dry-run", "--ignore-scripts")),
    _Lock("Cargo.lock", "Cargo.toml", "cargo", ("cargo", "generate-lockfile"),
          ("cargo", "metadata", "--locked", "--format-version", "1")),
    _Lock("uv.lock", "pyproject.toml", "uv", ("uv", "lock"), ("uv", "lock", "--check")),
    _Lock("poetry.lock", "pyproject.toml", "poetry", ("poetry", "lock", "--no-update"),
          ("poetry", "check", "--lock")),
    _Lock("go.sum", "go.mod", "go", ("go", "mod", "tidy"), ("go", "mod", "verify")),
)  # fmt: skip


class RegenerateLockfileStrategy:
    """Regenerate the lock file from its manifest with the ecosystem's own tool."""

    id = "regenerate-lockfile"
    risk = 4
    safety = Safety.MEDIUM

    @property
    def requirements(self) -> Requirements:
        return Requirements(files=tuple(lock.manifest for lock in LOCKFILES))

    def _lock(self, ctx: FixContext) -> _Lock:
        for lock in LOCKFILES:
            if (ctx.repo / lock.manifest).is_file() and (ctx.repo / lock.lockfile).is_file():
                return lock
        raise FixError(
            "no lock file this strategy knows next to its manifest",
            hint="known: " + ", ".join(lock.lockfile for lock in LOCKFILES),
        )

    def plan(self, ctx: FixContext) -> FixPlan:
        lock = self._lock(ctx)
        return FixPlan(
            strategy=self.id,
            description=f"regenerate {lock.lockfile} with {lock.tool}",
            commands=(lock.regenerate,),
            files=(lock.lockfile,),
            validation=validation_for(
                ctx, self.id, (Check(" ".join(lock.verify), argv=lock.verify),)
            ),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        lock = self._lock(ctx)
        result = ctx.run(lock.regenerate)
        if result.returncode != 0:
            raise FixError(
                f"{' '.join(lock.regenerate)} failed with exit code {result.returncode}",
                hint=result.output[-500:],
            )
        return result.output
