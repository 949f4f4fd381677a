"""The offline parts of infra/deploy.py (make deploy / make destroy never run in tests)."""
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.deploy import (DeployError, ensure_secret, retained_tables, site_config, site_files, sync_site,
                          with_code_location)

ROOT = Path(__file__).resolve().parents[2]


def test_config_json_takes_the_site_s_own_api_and_wss_urls():
    outputs = {"RestApiUrl": "https://d111111abcdef8.cloudfront.net/api",
               "WebsocketUrl": "wss://d111111abcdef8.cloudfront.net/ws"}
    assert site_config(outputs) == {"apiUrl": "https://d111111abcdef8.cloudfront.net/api",
                                    "websocketUrl": "wss://d111111abcdef8.cloudfront.net/ws"}
    with pytest.raises(DeployError):
        site_config({**outputs, "RestApiUrl": "https://d111111abcdef8.cloudfront.net/"})
    with pytest.raises(DeployError):  # another origin: the site's CSP would refuse it
        site_config({**outputs, "WebsocketUrl": "wss://d4e5f6.execute-api.us-east-1.amazonaws.com/ws"})
    with pytest.raises(DeployError):
        site_config({**outputs, "WebsocketUrl": "https://d111111abcdef8.cloudfront.net/ws"})


def test_web_config_json_is_not_committed():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "web/config.json" in ignored


def test_the_site_files_are_the_web_client_with_their_content_types():
    files = {key: content_type for key, _, content_type in site_files(ROOT / "web")}
    assert files["index.html"] == "text/html; charset=utf-8"
    assert all(files[key].startswith("text/javascript") for key in files if key.endswith(".js"))
    assert "js/package.json" not in files


def test_every_function_gets_the_uploaded_code(template):
    placed = with_code_location(template, "bucket", "chat-dev/abc.zip")
    functions = [resource for resource in placed["Resources"].values()
                 if resource["Type"] == "AWS::Serverless::Function"]
    assert functions and all(function["Properties"]["CodeUri"] == {"Bucket": "bucket", "Key": "chat-dev/abc.zip"}
                             for function in functions)
    assert template["Resources"]["APIHandler"]["Properties"]["CodeUri"] == "./deployment.zip"


def test_destroy_asks_before_deleting_the_durable_tables(template):
    assert retained_tables(template) == ["MessagesTable", "RoomsTable", "UsersTable"]


def test_the_jwt_secret_is_made_once_as_a_secure_string():
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        assert ensure_secret(ssm, "/chat/test/jwt-secret") is True
        first = ssm.get_parameter(Name="/chat/test/jwt-secret", WithDecryption=True)["Parameter"]
        assert first["Type"] == "SecureString" and len(first["Value"]) >= 64  # 48 random bytes, base64url
        assert ensure_secret(ssm, "/chat/test/jwt-secret") is False
        again = ssm.get_parameter(Name="/chat/test/jwt-secret", WithDecryption=True)["Parameter"]
        assert again["Value"] == first["Value"]


def test_the_site_sync_uploads_and_prunes(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "js" / "main.js").write_text("export {}")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="site")
        s3.put_object(Bucket="site", Key="old.js", Body=b"gone")
        assert sync_site(s3, "site", tmp_path) == 2
        keys = {obj["Key"] for obj in s3.list_objects_v2(Bucket="site")["Contents"]}
        assert keys == {"index.html", "js/main.js"}
        head = s3.head_object(Bucket="site", Key="js/main.js")
        assert head["ContentType"] == "text/javascript; charset=utf-8" and head["CacheControl"] == "no-cache"
