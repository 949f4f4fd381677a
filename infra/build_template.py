#!/usr/bin/env python3
"""`make package`: the deployable stack in infra/build/<stage>/ (sam.json + deployment.zip), offline.

`chalice package --merge-template infra/resources.json` writes the stack: Chalice deep-merges each
resource there into its own of the same logical id (dicts merge; lists, scalars and a differently
keyed intrinsic replace), so resources.json declares the role, names, log groups, stages, outputs and
(in SAM `Globals`) the environment. Left here: the JWT secret's name depends on the stage, and the
WebSocket deployment must wait for every route and be replaced when one changes (CloudFormation
deploys an API only when a deployment resource is created), so it is named after their digest.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "resources.json"
DEPS_CACHE = ROOT / "infra" / "build" / ".deps"
# The Lambda runtime the dependencies are fetched for (python3.11 runs on Amazon Linux 2, glibc 2.26).
LAMBDA_PYTHON = "3.11"
LAMBDA_PLATFORM = "manylinux2014_x86_64 manylinux_2_17_x86_64"


class TemplateError(RuntimeError):
    """What `make package` reports instead of a traceback."""


def finish(template: dict, stage: str) -> dict:
    """Completes Chalice's merged template in place (see the module docstring); returns it."""
    resources = template["Resources"]
    # A merged resource without a Type overrides something Chalice no longer makes (a renamed handler).
    if orphans := sorted(name for name, resource in resources.items() if "Type" not in resource):
        raise TemplateError(f"{MERGE_TEMPLATE.name} overrides what Chalice did not make: {orphans}")
    template["Parameters"]["JwtSecretParameterName"]["Default"] = f"/chat/{stage}/jwt-secret"
    routes = {name: resource for name, resource in resources.items()
              if resource["Type"] in ("AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration")}
    digest = hashlib.sha256(json.dumps(routes, sort_keys=True).encode()).hexdigest()
    deployment_id = f"WebsocketAPIDeployment{digest[:10]}"
    resources[deployment_id] = resources.pop("WebsocketAPIDeployment")
    resources[deployment_id]["DependsOn"] = sorted(name for name, resource in routes.items()
                                                   if resource["Type"] == "AWS::ApiGatewayV2::Route")
    resources["WebsocketAPIStage"]["Properties"]["DeploymentId"] = {"Ref": deployment_id}
    return template


def lambda_dependencies() -> Path:
    """requirements.txt for Lambda, cached per requirements.txt: packaging is offline after the first run."""
    requirements = ROOT / "requirements.txt"
    key = hashlib.sha256(requirements.read_bytes() + LAMBDA_PLATFORM.encode()).hexdigest()[:16]
    target, partial = DEPS_CACHE / key, DEPS_CACHE / f"{key}.partial"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(partial, ignore_errors=True)
    platforms = [option for platform in LAMBDA_PLATFORM.split() for option in ("--platform", platform)]
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "--target", str(partial), "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
                             *platforms, "--only-binary=:all:", "--no-compile", "-r", str(requirements)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise TemplateError("could not download the Lambda dependencies (the first `make package` after a "
                            f"change to requirements.txt needs PyPI):\n{result.stdout}{result.stderr}")
    shutil.rmtree(partial / "bin", ignore_errors=True)  # console scripts: of no use in Lambda
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def chalice_package(stage: str, out_dir: Path) -> None:
    """Packages a copy of the app whose vendor/ is the cached dependencies: Chalice never runs pip."""
    # No AWS call is made (Chalice only asks for the region): dummy credentials keep botocore from probing.
    env = {key: value for key, value in os.environ.items()
           if key not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")}
    env.update(AWS_ACCESS_KEY_ID="packaging", AWS_SECRET_ACCESS_KEY="packaging", AWS_EC2_METADATA_DISABLED="true")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    shutil.rmtree(out_dir, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".complete")
    with tempfile.TemporaryDirectory(prefix="chat-package-") as temporary:
        project = Path(temporary) / "project"
        shutil.copytree(lambda_dependencies(), project / "vendor", ignore=ignore)
        shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=ignore)
        shutil.copytree(ROOT / ".chalice", project / ".chalice",  # config only, not `chalice deploy` state
                        ignore=lambda folder, names: [name for name in names if not name.endswith(".json")])
        shutil.copy2(ROOT / "app.py", project / "app.py")
        command = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
                   "--project-dir", str(project), "package", "--stage", stage,
                   "--merge-template", str(MERGE_TEMPLATE), str(out_dir)]
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise TemplateError(f"chalice package failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", help="output folder (default infra/build/<stage>)")
    args = parser.parse_args(argv)
    out_dir = (Path(args.out) if args.out else ROOT / "infra" / "build" / args.stage).resolve()
    template_path, zip_path = out_dir / "sam.json", out_dir / "deployment.zip"
    try:
        chalice_package(args.stage, out_dir)
        template_path.write_text(json.dumps(finish(json.loads(template_path.read_text()), args.stage), indent=2) + "\n")
    except TemplateError as error:
        print(f"make package: {error}", file=sys.stderr)
        return 1
    print(f"{template_path}: deployment.zip {zip_path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
