"""The packaged stack deployed into moto, and a whole chat session run against what it made.

The tables (and the fan-out queue) come from the PACKAGED template through moto's
CloudFormation, not from the code's own idea of them. While the app runs, every AWS call
it makes is recorded (botocore's provide-client-params / before-call events) and checked
against the Lambda role's policy: each call must be allowed, and the policy may allow no
more than the calls need.
"""
import json
import os
import time
import uuid
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import unquote, urlparse

import boto3
import pytest
from moto import mock_aws

from infra.stack import dependencies, references

ROOT = Path(__file__).resolve().parents[2]
REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's default account
STACK = "chat-test"
API_ID = "abc123"  # the WebSocket API id in the events; moto intercepts its management API host
# What moto's CloudFormation creates; everything that needs anything else is left out.
MOTO_TYPES = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup"}
# Granted for AWS's own use of the role, never called by the code: the Lambda runtime writes
# the logs, Lambda's SQS poller reads the queue, SSM decrypts the SecureString.
USED_BY_AWS = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:ReceiveMessage", "sqs:DeleteMessage",
               "sqs:GetQueueAttributes", "kms:Decrypt"}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
MANAGEMENT_METHODS = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}


# -- moto's CloudFormation --------------------------------------------------------------
def moto_template(template: dict) -> dict:
    """The template without SAM and the resources moto cannot make (or that need them)."""
    graph = dependencies(template)
    keep = {name for name, resource in template["Resources"].items() if resource["Type"] in MOTO_TYPES}
    while True:
        orphans = {name for name in keep if graph[name] - keep}
        if not orphans:
            break
        keep -= orphans
    known = keep | set(template.get("Parameters", {}))
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": template.get("Parameters", {}),
            "Mappings": template.get("Mappings", {}),
            "Resources": {name: template["Resources"][name] for name in sorted(keep)},
            "Outputs": {name: output for name, output in template.get("Outputs", {}).items()
                        if references(output) <= known}}


@pytest.fixture(scope="module")
def stack(template):
    """mock_aws with the stack deployed: {logical id: (Ref value, ARN)} of what it made."""
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(moto_template(template)))
        status = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        assert status == "CREATE_COMPLETE"
        made = {}
        for resource in cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]:
            physical, kind = resource["PhysicalResourceId"], resource["ResourceType"]
            if kind == "AWS::DynamoDB::Table":
                arn = boto3.client("dynamodb", region_name=REGION).describe_table(
                    TableName=physical)["Table"]["TableArn"]
            elif kind == "AWS::SQS::Queue":
                arn = boto3.client("sqs", region_name=REGION).get_queue_attributes(
                    QueueUrl=physical, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            else:
                arn = None
            made[resource["LogicalResourceId"]] = (physical, arn)
        yield made


def test_moto_deployed_the_tables_from_the_template(template, stack):
    client = boto3.client("dynamodb", region_name=REGION)
    for logical_id in ("UsersTable", "RoomsTable", "ConnectionsTable", "MessagesTable"):
        expected = template["Resources"][logical_id]["Properties"]
        table = client.describe_table(TableName=stack[logical_id][0])["Table"]
        assert table["KeySchema"] == expected["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
        assert table["BillingModeSummary"]["BillingMode"] == expected["BillingMode"]
        made = {index["IndexName"]: (index["KeySchema"], index["Projection"])
                for index in table.get("GlobalSecondaryIndexes", [])}
        declared = {index["IndexName"]: (index["KeySchema"], index["Projection"])
                    for index in expected.get("GlobalSecondaryIndexes", [])}
        assert made == declared


# -- the session ------------------------------------------------------------------------
class Recorder:
    """Every AWS call made through the default boto3 session: (service, operation, params, url)."""

    def __init__(self):
        self.calls = []

    def params(self, params, context, **_):
        context["infra_test_params"] = json.loads(json.dumps(params, default=str))

    def call(self, model, params, context, **_):
        self.calls.append((model.service_model.service_name, model.name,
                           context.get("infra_test_params", {}), params.get("url", "")))


def ws_event(connection_id, route_key, event_type, body=None, token=None):
    context = {"routeKey": route_key, "eventType": event_type, "connectionId": connection_id,
               "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com", "stage": "ws", "apiId": API_ID,
               "requestId": uuid.uuid4().hex, "connectedAt": int(time.time() * 1000),
               "requestTimeEpoch": int(time.time() * 1000),
               "identity": {"sourceIp": "203.0.113.7", "userAgent": "infra-test"}}
    event = {"requestContext": context, "isBase64Encoded": False}
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def frames_posted(connection_id) -> list[dict]:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
    connections = apigatewaymanagementapi_backends[ACCOUNT][REGION].connections
    # moto keeps the id as it appears in the URL path (percent-encoded).
    key = next((key for key in list(connections) if unquote(key) == connection_id), None)
    data = connections[key].data.decode() if key else ""
    decoder, frames, position = json.JSONDecoder(), [], 0
    while position < len(data):
        frame, position = decoder.raw_decode(data, position)
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def session(template, stack):
    """Runs a whole chat session through the app's handlers against the deployed resources;
    returns the recorded AWS calls and the frames each connection was sent."""
    from chalice.local import LambdaContext
    from chalice.test import Client

    import app as app_module
    from app import app

    def handler(handler_string):
        """What Lambda calls for a handler string like 'app.ws_message'."""
        return getattr(app_module, handler_string.rpartition(".")[2])
    ws_connect, ws_message, ws_disconnect = (handler(app.websocket_handlers[key].handler_string)
                                             for key in ("$connect", "$default", "$disconnect"))
    sqs_handlers = [function["Properties"]["Handler"] for function in template["Resources"].values()
                    if function["Type"] == "AWS::Serverless::Function"
                    and any(event["Type"] == "SQS" for event in function["Properties"].get("Events", {}).values())]

    parameter = template["Parameters"]["JwtSecretParameterName"]["Default"]
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=parameter, Type="SecureString", Value="s" * 64)
    fanout = "FanoutQueue" in stack and len(sqs_handlers) == 1
    saved_env = dict(os.environ)
    # The functions' environment as the template gives it (SAM Globals), resolved against what moto made.
    os.environ.update(Resolver(template, stack)(template["Globals"]["Function"]["Environment"]["Variables"]))
    os.environ["BCRYPT_ROUNDS"] = "4"
    os.environ.pop("JWT_SECRET", None)
    if fanout:
        # Every broadcast to more than one connection goes through the queue and the worker.
        os.environ["FANOUT_BATCH_THRESHOLD"] = "1"
    recorder = Recorder()
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("provide-client-params.*.*", recorder.params)
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", recorder.call)
    from chalicelib import runtime
    from chalicelib.config import Settings
    try:
        # What a container builds from its environment, on the recorded session.
        runtime.use(runtime.Runtime(Settings.from_environment(os.environ), session=boto3.DEFAULT_SESSION))
        http = Client(app, stage_name="dev", project_dir=str(ROOT)).http
        context = LambdaContext(function_name="infra-test", memory_size=512)

        def rest(method, path, body=None, token=None, expect=200):
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = http.request(method, path, headers=headers,
                                    body=json.dumps(body).encode() if body is not None else b"")
            assert response.status_code == expect, (method, path, response.status_code, response.body)
            return json.loads(response.body or b"null")

        def ws(connection_id, frame):
            ws_message(ws_event(connection_id, frame.get("action", "$default"), "MESSAGE", body=frame), context)

        alice = rest("POST", "/auth/register", {"username": "alice", "email": "alice@example.com",
                                                "password": "correct horse"}, expect=201)["token"]
        rest("POST", "/auth/register", {"username": "bob", "email": "bob@example.com",
                                        "password": "battery staple"}, expect=201)
        rest("POST", "/auth/login", {"username": "bob", "password": "wrong password"}, expect=401)
        bob = rest("POST", "/auth/login", {"username": "bob@example.com", "password": "battery staple"})["token"]
        rest("GET", "/me", token=alice)
        room = rest("POST", "/chatrooms", {"name": "General"}, token=alice, expect=201)["room"]["id"]
        rest("GET", "/chatrooms", token=bob)
        rest("GET", f"/chatrooms/{room}", token=bob)

        a1, a2, b1 = "AAAAAAAAAA1=", "AAAAAAAAAA2=", "BBBBBBBBBB1="
        for connection_id, token in ((a1, alice), (a2, alice), (b1, bob)):
            assert ws_connect(ws_event(connection_id, "$connect", "CONNECT", token=token), context) == {
                "statusCode": 200}
        for connection_id in (a1, a2, b1):
            ws(connection_id, {"action": "join", "room": room})
        ws(a1, {"action": "send", "room": room, "text": "hello", "client_id": "c-1"})
        ws(a1, {"action": "send", "room": room, "text": "hello", "client_id": "c-1"})  # a retry
        ws(b1, {"action": "typing", "room": room})
        ws(a1, {"action": "dm", "to": "bob", "text": "psst", "client_id": "d-1"})
        ws(a1, {"action": "history", "room": room})
        ws(b1, {"action": "history", "room": "dm:alice:bob"})
        ws(b1, {"action": "ping"})
        rest("GET", f"/chatrooms/{room}/messages", token=alice)
        rest("GET", "/me/rooms", token=alice)
        assert rest("GET", "/users/online", token=alice)["users"] == ["alice", "bob"]
        ws(b1, {"action": "leave", "room": room})
        for connection_id in (a1, a2, b1):
            ws_disconnect(ws_event(connection_id, "$disconnect", "DISCONNECT"), context)

        if fanout:
            # Lambda's poller, played by a client outside the recorded session.
            fanout_worker = handler(sqs_handlers[0])
            sqs = boto3.session.Session(region_name=REGION).client("sqs")
            while True:
                messages = sqs.receive_message(QueueUrl=stack["FanoutQueue"][0], MaxNumberOfMessages=10,
                                               WaitTimeSeconds=0).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    fanout_worker({"Records": [{
                        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"], "attributes": {}, "messageAttributes": {},
                        "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
                        "eventSourceARN": stack["FanoutQueue"][1], "awsRegion": REGION}]}, context)
                    sqs.delete_message(QueueUrl=stack["FanoutQueue"][0], ReceiptHandle=message["ReceiptHandle"])
        frames = {name: frames_posted(connection_id) for name, connection_id in
                  (("a1", a1), ("a2", a2), ("b1", b1))}
        yield {"calls": recorder.calls, "frames": frames, "fanout": fanout}
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        boto3.DEFAULT_SESSION = None
        runtime.use(None)


def test_a_whole_session_works_against_the_deployed_tables(session):
    frames = session["frames"]
    kinds = {name: [frame["type"] for frame in sent] for name, sent in frames.items()}
    assert "joined" in kinds["a1"] and "joined" in kinds["b1"]
    texts = [frame["message"]["text"] for frame in frames["b1"] if frame["type"] == "message"]
    assert texts.count("hello") == 1 and "psst" in texts  # the retry goes to the sending connection only
    hellos = [frame["message"] for frame in frames["a1"] if frame["type"] == "message"
              and frame["message"]["text"] == "hello"]
    assert len(hellos) == 2 and hellos[0] == hellos[1]  # ... as the stored message: nothing new is stored
    assert "typing" in kinds["a1"] and "typing" in kinds["a2"]
    assert "history" in kinds["a1"] and "history" in kinds["b1"]
    assert "pong" in kinds["b1"] and "left" in kinds["b1"]
    assert not [frame for sent in frames.values() for frame in sent if frame["type"] == "error"]


def test_the_session_used_the_queue_for_fan_out(session):
    if not session["fanout"]:
        pytest.skip("the app has no SQS fan-out")
    assert any(service == "sqs" for service, *_ in session["calls"])


# -- the policy ----------------------------------------------------------------------------
def required_permissions(call) -> list[tuple[str, str]]:
    """The IAM (action, resource) pairs one recorded call needs."""
    service, operation, params, url = call

    def table(name):
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    if service == "dynamodb":
        if operation in ("TransactWriteItems", "TransactGetItems"):
            return [(f"dynamodb:{TRANSACT_ACTIONS[kind]}", table(body["TableName"]))
                    for item in params["TransactItems"] for kind, body in item.items()]
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return [(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]]
        if params.get("IndexName"):
            return [(f"dynamodb:{operation}", f"{table(params['TableName'])}/index/{params['IndexName']}")]
        return [(f"dynamodb:{operation}", table(params["TableName"]))]
    if service == "apigatewaymanagementapi":
        parsed = urlparse(url)
        api_id = parsed.hostname.split(".")[0]
        stage, _, connection_id = unquote(parsed.path).lstrip("/").partition("/@connections/")
        return [("execute-api:ManageConnections", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/"
                                                  f"{MANAGEMENT_METHODS[operation]}/@connections/{connection_id}")]
    if service == "ssm" and operation == "GetParameter":
        return [("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{params['Name']}")]
    if service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        queue = params["QueueUrl"].rstrip("/").rsplit("/", 1)[1]
        return [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}")]
    raise AssertionError(f"the code calls {service}.{operation}: map it to its IAM action in this test, "
                         "and grant it in DefaultRole (infra/resources.json)")


class Resolver:
    """Evaluates the intrinsic functions of the role's policy with what moto made."""

    def __init__(self, template, stack):
        self.template, self.stack = template, stack
        self.pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                       "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com"}

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.template["Parameters"]:
            return str(self.template["Parameters"][name]["Default"])
        if name == "WebsocketAPI":
            return API_ID
        return self.stack[name][0]

    def get_att(self, name, attribute):
        assert attribute == "Arn", (name, attribute)
        return self.stack[name][1]

    def __call__(self, node):
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "Ref" in node:
            return self.ref(node["Ref"])
        if "Fn::GetAtt" in node:
            return self.get_att(*node["Fn::GetAtt"])
        if "Fn::FindInMap" in node:
            mapping, first, second = node["Fn::FindInMap"]
            return self.template["Mappings"][mapping][first][second]
        if "Fn::Join" in node:
            separator, items = node["Fn::Join"]
            return separator.join(self(items))
        if "Fn::Sub" in node:
            text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
            variables = {name: self(value) for name, value in variables.items()}
            while "${" in text:
                start = text.index("${")
                end = text.index("}", start)
                name = text[start + 2:end]
                if name in variables:
                    value = variables[name]
                elif "." in name:
                    value = self.get_att(*name.split(".", 1))
                else:
                    value = self.ref(name)
                text = text[:start] + value + text[end + 1:]
            return text
        return {key: self(value) for key, value in node.items()}


@pytest.fixture(scope="module")
def policy(template, stack) -> list[dict]:
    [document] = template["Resources"]["DefaultRole"]["Properties"]["Policies"]
    statements = Resolver(template, stack)(document["PolicyDocument"]["Statement"])
    for statement in statements:
        for key in ("Action", "Resource"):
            if isinstance(statement[key], str):
                statement[key] = [statement[key]]
    return statements


def allowed(policy, action, resource) -> bool:
    return any(statement["Effect"] == "Allow" and "Condition" not in statement
               and any(fnmatchcase(action.lower(), granted.lower()) for granted in statement["Action"])
               and any(fnmatchcase(resource, granted) for granted in statement["Resource"])
               for statement in policy)


def test_the_policy_allows_every_call_the_code_makes(session, policy):
    needed = {pair for call in session["calls"] for pair in required_permissions(call)}
    assert {action for action, _ in needed} >= {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem",
                                               "execute-api:ManageConnections", "ssm:GetParameter"}
    missing = sorted(pair for pair in needed if not allowed(policy, *pair))
    assert not missing, f"DefaultRole (infra/resources.json) does not allow: {missing}"


def test_the_policy_allows_nothing_the_code_does_not_use(session, policy):
    needed = {pair for call in session["calls"] for pair in required_permissions(call)}
    unused = []
    for statement in policy:
        for action in statement["Action"]:
            if action in USED_BY_AWS:
                continue
            for resource in statement["Resource"]:
                if not any(fnmatchcase(used_action.lower(), action.lower()) and fnmatchcase(used_resource, resource)
                           for used_action, used_resource in needed):
                    unused.append((statement.get("Sid"), action, resource))
    assert not unused, f"granted but never used by the session: {unused}"


def test_the_policy_has_no_wildcard_actions_or_resources(template, stack, policy):
    tables = {stack[name][1] for name in ("UsersTable", "RoomsTable", "ConnectionsTable", "MessagesTable")}
    for statement in policy:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert "*" not in action, statement
        for resource in statement["Resource"]:
            assert resource != "*" and not resource.endswith(":*:*") and "::*" not in resource, statement
            if resource.startswith("arn:aws:dynamodb:"):
                assert resource in tables or resource.removesuffix("/index/*") in tables, resource
            if resource.startswith("arn:aws:execute-api:"):
                assert resource.startswith(f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/ws/"), resource
        if "kms:Decrypt" in statement["Action"]:
            conditions = statement["Condition"]["StringEquals"]
            assert conditions["kms:ViaService"] == f"ssm.{REGION}.amazonaws.com"
            assert conditions["kms:EncryptionContext:PARAMETER_ARN"].endswith(":parameter/chat/dev/jwt-secret")
