"""``make deploy``: build, push the RADIUS image, deploy the stack, upload the console.

    make deploy STACK=wispcloud PARAMS="EmailSender=billing@example.com AlarmEmail=ops@example.com"

1. ``python -m infra.package stage``: each function's code and requirements (``build/stage/<Fn>``);
2. ``sam build``: installs each function's requirements next to its code (``.aws-sam/build``), then
   every module is byte-compiled (Lambda's code directory is read-only: no ``.pyc``, slower cold starts);
3. first deploy only: ``sam deploy`` without an image, which creates the ECR repository (no RADIUS
   task runs yet);
4. ``docker build`` + ``docker push`` of ``radius_container/Dockerfile`` to the stack's repository,
   tagged with the commit; without a Docker engine the two commands are printed, and the deploy keeps
   the image tag the stack has (or takes ``IMAGE_TAG=<tag>`` of an image pushed by hand);
5. ``sam deploy`` with ``RadiusImageTag``: ECS rolls the tasks (the circuit breaker rolls a bad image back);
6. ``make web`` and ``aws s3 sync web/dist`` to the console bucket, then a CloudFront invalidation.

``--dry-run`` prints the commands instead of running them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".aws-sam" / "build"
CAPABILITIES = ["--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]

Runner = Callable[[Sequence[str]], str]


def run(cmd: Sequence[str]) -> str:
    print("+ " + shlex.join(cmd), flush=True)
    return subprocess.run(list(cmd), cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout


def _stack(runner: Runner, stack: str, region: str | None) -> dict[str, object] | None:
    cmd = ["aws", "cloudformation", "describe-stacks", "--stack-name", stack, "--output", "json"]
    if region:
        cmd += ["--region", region]
    try:
        out = runner(cmd)
    except subprocess.CalledProcessError:
        return None  # does not exist yet
    stacks = json.loads(out or "{}").get("Stacks") or []
    return stacks[0] if stacks else None


def _outputs(stack: dict[str, object]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}  # type: ignore[attr-defined]


def _parameter(stack: dict[str, object], name: str) -> str:
    for p in stack.get("Parameters") or []:  # type: ignore[attr-defined]
        if p["ParameterKey"] == name:
            return str(p.get("ParameterValue") or "")
    return ""


def _sam_deploy(stack: str, region: str | None, params: list[str]) -> list[str]:
    cmd = ["sam", "deploy", "--stack-name", stack, "--resolve-s3", "--no-confirm-changeset"]
    cmd += ["--no-fail-on-empty-changeset", *CAPABILITIES]
    if region:
        cmd += ["--region", region]
    if params:
        cmd += ["--parameter-overrides", *params]
    return cmd


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def deploy(
    stack: str,
    region: str | None,
    params: list[str],
    image_tag: str | None,
    runner: Runner = run,
    has_docker: Callable[[], bool] = docker_available,
) -> None:
    py = sys.executable
    runner([py, "-m", "infra.package", "stage"])
    runner(["sam", "build", "--template-file", "template.yaml"])
    runner([py, "-m", "infra.package", "compile", str(BUILD_DIR.relative_to(ROOT))])
    current = _stack(runner, stack, region)
    if current is None:
        runner(_sam_deploy(stack, region, [*params, "RadiusImageTag="]))
        current = _stack(runner, stack, region) or {}
    repo = _outputs(current).get("RadiusRepositoryUri", "<RadiusRepositoryUri>")
    commit = runner(["git", "rev-parse", "--short=12", "HEAD"]).strip() or "latest"
    tag = image_tag or commit
    build = ["docker", "build", "-f", "radius_container/Dockerfile", "-t", f"{repo}:{tag}", "."]
    if has_docker():
        registry = repo.split("/", 1)[0]
        password = runner(["aws", "ecr", "get-login-password", *(["--region", region] if region else [])])
        subprocess.run(
            ["docker", "login", "--username", "AWS", "--password-stdin", registry],
            input=password,
            text=True,
            check=True,
        )
        runner(build)
        runner(["docker", "push", f"{repo}:{tag}"])
    else:
        print("No Docker engine here: build and push the RADIUS image where one runs, then deploy with")
        print(f"IMAGE_TAG={tag}:\n  {shlex.join(build)}\n  docker push {repo}:{tag}")
        tag = image_tag or _parameter(current, "RadiusImageTag")
    runner(_sam_deploy(stack, region, [*params, f"RadiusImageTag={tag}"]))
    outputs = _outputs(_stack(runner, stack, region) or {})
    if (ROOT / "web" / "package.json").exists():
        runner(["make", "web"])
        bucket, dist = outputs.get("WebBucketName"), outputs.get("WebDistributionId")
        if bucket and dist:
            runner(["aws", "s3", "sync", "web/dist", f"s3://{bucket}", "--delete"])
            runner(["aws", "cloudfront", "create-invalidation", "--distribution-id", dist, "--paths", "/*"])
    print(f"Console: {outputs.get('ConsoleUrl', '?')}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", default="wispcloud")
    ap.add_argument("--region", default=None)
    ap.add_argument("--image-tag", default=None, help="RADIUS image tag already in the repository")
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("params", nargs="*", help="template parameters, Key=Value")
    args = ap.parse_args(argv)
    runner: Runner = run
    if args.dry_run:

        def runner(cmd: Sequence[str]) -> str:
            print("+ " + shlex.join(cmd))
            if cmd[:2] == ["git", "rev-parse"]:
                return run(cmd)
            if cmd[:3] == ["aws", "cloudformation", "describe-stacks"]:
                raise subprocess.CalledProcessError(1, cmd)
            return ""

    deploy(args.stack, args.region, args.params, args.image_tag, runner, docker_available)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
