"""The packaged stack, made once per session by the script `make package` runs, offline."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "infra" / "build_template.py"
MERGE_TEMPLATE = ROOT / "infra" / "resources.json"
STAGE = "dev"


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory) -> Path:
    """`make package STAGE=dev` into a temporary folder: sam.json and deployment.zip."""
    out = tmp_path_factory.mktemp("package") / STAGE
    env = {key: value for key, value in os.environ.items() if key != "AWS_PROFILE"}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--stage", STAGE, "--out", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"make package failed:\n{result.stdout}{result.stderr}"
    return out


@pytest.fixture(scope="session")
def template_path(package_dir) -> Path:
    return package_dir / "sam.json"


@pytest.fixture(scope="session")
def template(template_path) -> dict:
    return json.loads(template_path.read_text())


@pytest.fixture(scope="session")
def merge_template() -> dict:
    return json.loads(MERGE_TEMPLATE.read_text())
