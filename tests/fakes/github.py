"""The loopback fake of the GitHub REST API (it lives in the package, as the demo uses it)."""

from hee_monitor.demo.github_fake import *  # noqa: F403
from hee_monitor.demo.github_fake import (
    DATA_DIR,
    FAILED_CONCLUSIONS,
    GitHubFake,
    JobSpec,
    StepSpec,
    template,
)

__all__ = ["DATA_DIR", "FAILED_CONCLUSIONS", "GitHubFake", "JobSpec", "StepSpec", "template"]
