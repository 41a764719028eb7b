"""Strategies that run a tool's own fixer: a data table, one row per tool.

Each row says which command fixes, which command proves the fix (the check that failed in
CI, run the way CI runs it), what it needs and how risky it is. Repositories add rows of
their own in configuration (``fixes.strategies``), which become the same
:class:`CommandStrategy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hee_monitor.action.fixes.strategies.interface import (
    Check,
    FixContext,
    FixPlan,
    Requirements,
    Safety,
    upgrade_edits,
    validation_for,
)
from hee_monitor.core.errors import ConfigError, FixError


@dataclass(frozen=True)
class CommandStrategy:
    id: str
    description: str
    commands: tuple[tuple[str, ...], ...]
    validate: Check
    risk: int
    safety: Safety
    requirements: Requirements
    files: tuple[str, ...] = ("**",)
    #: exit codes of the fixing command that still mean "it did its job" (ruff exits 1 when
    #: unfixable problems remain; validation decides whether that matters)
    ok_codes: tuple[int, ...] = (0,)
    #: the tool takes file arguments: the "." of its commands becomes the files the log
    #: names, when it names any
    file_args: bool = False

    def scope(self, ctx: FixContext) -> tuple[str, tuple[str, ...]]:
        """Where the tool runs (the failing step's working directory) and on what: the
        files the log names, relative to there, or "." (everything, as CI ran it)."""
        wd = ctx.working_directory
        named = ctx.named_files(self.files) if self.file_args else []
        if not named:
            return wd, (".",)
        if wd and all(f.startswith(wd + "/") for f in named):
            return wd, tuple(f[len(wd) + 1 :] for f in named)
        return "", tuple(named)

    def _argvs(
        self, argvs: tuple[tuple[str, ...], ...], targets: tuple[str, ...]
    ) -> tuple[tuple[str, ...], ...]:
        if targets == (".",):
            return argvs
        return tuple(
            tuple(a for arg in argv for a in (targets if arg == "." else (arg,))) for argv in argvs
        )

    def plan(self, ctx: FixContext) -> FixPlan:
        wd, targets = self.scope(ctx)
        own = replace(self.validate, argv=self._argvs((self.validate.argv,), targets)[0], cwd=wd)
        where = f" in {wd}" if wd else ""
        on = "" if targets == (".",) else f" on {len(targets)} file(s) the log names"
        return FixPlan(
            strategy=self.id,
            description=self.description + on + where,
            commands=self._argvs(self.commands, targets),
            files=self.files if targets == (".",) else tuple(
                f"{wd}/{t}" if wd else t for t in targets
            ),
            validation=validation_for(ctx, self.id, (own,)),
            risk=self.risk,
            safety=self.safety,
            edits=upgrade_edits(ctx),
        )  # fmt: skip

    def apply(self, ctx: FixContext) -> str:
        log: list[str] = []
        wd, targets = self.scope(ctx)
        for argv in self._argvs(self.commands, targets):
            result = ctx.run(argv, wd)
            log.append(f"$ {' '.join(argv)} (exit {result.returncode})\n{result.output}")
            if result.returncode not in self.ok_codes:
                raise FixError(
                    f"{' '.join(argv)} failed with exit code {result.returncode}",
                    hint=result.output[-500:] or "run the command by hand to see why",
                )
        return "\n".join(log)


def _cmd(*argv: str) -> tuple[str, ...]:
    return tuple(argv)


def _check(name: str, *argv: str, fail_on_output: bool = False) -> Check:
    return Check(name, argv=tuple(argv), fail_on_output=fail_on_output)


#: The table. Risk: formatters 1, lint autofixes 2 (they may remove code), dependency tools 5.
COMMAND_STRATEGIES: dict[str, CommandStrategy] = {
    s.id: s
    for s in (
        CommandStrategy(
            id="ruff-fix",
            file_args=True,
            description="apply ruff's safe lint fixes",
            commands=(_cmd("ruff", "check", "--fix", "--no-cache", "--quiet", "."),),
            validate=_check("ruff check", "ruff", "check", "--no-cache", "--quiet", "."),
            risk=2,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("ruff",)),
            files=("**/*.py", "**/*.pyi", "**/*.ipynb"),
            ok_codes=(0, 1),
        ),
        CommandStrategy(
            id="ruff-format",
            file_args=True,
            description="format Python code with ruff",
            commands=(_cmd("ruff", "format", "--no-cache", "."),),
            validate=_check("ruff format --check", "ruff", "format", "--check", "--no-cache", "."),
            risk=1,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("ruff",)),
            files=("**/*.py", "**/*.pyi", "**/*.ipynb"),
        ),
        CommandStrategy(
            id="black",
            file_args=True,
            description="format Python code with black",
            commands=(_cmd("black", "--quiet", "."),),
            validate=_check("black --check", "black", "--check", "--quiet", "."),
            risk=1,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("black",)),
            files=("**/*.py", "**/*.pyi"),
        ),
        CommandStrategy(
            id="isort",
            file_args=True,
            description="sort Python imports with isort",
            commands=(_cmd("isort", "--quiet", "."),),
            validate=_check("isort --check-only", "isort", "--check-only", "--quiet", "."),
            risk=1,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("isort",)),
            files=("**/*.py", "**/*.pyi"),
        ),
        CommandStrategy(
            id="eslint-fix",
            file_args=True,
            description="apply eslint's fixes",
            commands=(_cmd("eslint", "--fix", "."),),
            validate=_check("eslint", "eslint", "."),
            risk=2,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("eslint",)),
            files=("**/*.js", "**/*.jsx", "**/*.ts", "**/*.tsx", "**/*.mjs", "**/*.cjs"),
            ok_codes=(0, 1),
        ),
        CommandStrategy(
            id="prettier-write",
            file_args=True,
            description="format files with prettier",
            commands=(_cmd("prettier", "--write", "."),),
            validate=_check("prettier --check", "prettier", "--check", "."),
            risk=1,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("prettier",)),
        ),
        CommandStrategy(
            id="clippy-fix",
            description="apply clippy's machine-applicable suggestions",
            commands=(_cmd("cargo", "clippy", "--fix", "--allow-dirty", "--allow-staged"),),
            validate=_check("cargo clippy -D warnings", "cargo", "clippy", "--", "-D", "warnings"),
            risk=2,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("cargo",), files=("Cargo.toml",)),
            files=("**/*.rs",),
        ),
        CommandStrategy(
            id="cargo-fmt",
            description="format Rust code with cargo fmt",
            commands=(_cmd("cargo", "fmt"),),
            validate=_check("cargo fmt --check", "cargo", "fmt", "--check"),
            risk=1,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("cargo",), files=("Cargo.toml",)),
            files=("**/*.rs",),
        ),
        CommandStrategy(
            id="gofmt",
            file_args=True,
            description="format Go code with gofmt",
            commands=(_cmd("gofmt", "-w", "."),),
            validate=_check("gofmt -l", "gofmt", "-l", ".", fail_on_output=True),
            risk=1,
            safety=Safety.HIGH,
            requirements=Requirements(tools=("gofmt",), files=("**/*.go",)),
            files=("**/*.go",),
        ),
        CommandStrategy(
            id="go-mod-tidy",
            description="tidy go.mod and go.sum",
            commands=(_cmd("go", "mod", "tidy"),),
            validate=_check("go mod tidy -diff", "go", "mod", "tidy", "-diff"),
            risk=3,
            safety=Safety.MEDIUM,
            requirements=Requirements(tools=("go",), files=("go.mod",)),
            files=("go.mod", "go.sum"),
        ),
        CommandStrategy(
            id="npm-audit-fix",
            description="upgrade vulnerable npm packages within their semver ranges",
            commands=(_cmd("npm", "audit", "fix"),),
            validate=_check("npm audit", "npm", "audit", "--audit-level=high"),
            risk=6,
            safety=Safety.LOW,
            requirements=Requirements(tools=("npm",), files=("package.json",)),
            files=("package.json", "package-lock.json", "node_modules/**"),
        ),
    )
}


def command_strategy_from_config(data: Mapping[str, Any], where: str) -> CommandStrategy:
    """A repository-defined command strategy (one item of ``fixes.strategies``)."""

    def need(key: str) -> Any:
        if key not in data:
            raise ConfigError(
                f"{where}: missing {key!r}",
                hint="a strategy needs id, command and validate (see docs/fixes.md)",
            )
        return data[key]

    def argv(value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
            return tuple(value)
        raise ConfigError(f"{where}: {key!r} must be a command string or a list of strings")

    try:
        safety = Safety(str(data.get("safety", "medium")))
    except ValueError:
        raise ConfigError(f"{where}: safety must be high, medium or low") from None
    risk = data.get("risk", 5)
    if not isinstance(risk, int) or not 0 <= risk <= 10:
        raise ConfigError(f"{where}: risk must be an integer from 0 to 10")
    command = argv(need("command"), "command")
    validate = argv(need("validate"), "validate")
    tools = tuple(data.get("requires", {}).get("tools", [command[0]]))
    files = tuple(data.get("requires", {}).get("files", []))
    touches = data.get("files", ["**"])
    if not isinstance(touches, list):
        raise ConfigError(f"{where}: files must be a list of glob patterns")
    return CommandStrategy(
        id=str(need("id")),
        description=str(data.get("description", " ".join(command))),
        commands=(command,),
        validate=Check(" ".join(validate), argv=validate),
        risk=risk,
        safety=safety,
        requirements=Requirements(tools=tools, files=files),
        files=tuple(str(t) for t in touches),
        ok_codes=tuple(data.get("ok_codes", [0])),
    )
