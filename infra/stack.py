"""What the stack declares in infra/resources.json, read in one place.

The deployable template, the local server, the tests and the benchmarks all take the
tables, the environment variables that name them and the WebSocket route keys from here,
so each of those facts is written once: in the template itself. The tests also read what a
packaged template's resources refer to from here (`dependencies`).
"""
import json
import re
from functools import cache
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "resources.json"
TABLE = "AWS::DynamoDB::Table"
WEBSOCKET_ROUTE = "AWS::ApiGatewayV2::Route"
FUNCTION = "AWS::Serverless::Function"
# CreateTable takes these properties of AWS::DynamoDB::Table as they are written.
_CREATE_TABLE_PROPERTIES = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")


@cache
def template() -> dict:
    return json.loads(TEMPLATE.read_text())


def _resources(kind: str) -> dict[str, dict]:
    # Overrides of Chalice's resources carry no Type of their own.
    return {logical_id: resource for logical_id, resource in template()["Resources"].items()
            if resource.get("Type") == kind}


def table_variables() -> dict[str, str]:
    """Environment variable -> logical id of the table it names (USERS_TABLE -> UsersTable),
    as the functions' Globals declare them."""
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    tables = _resources(TABLE)
    return {name: value["Ref"] for name, value in variables.items()
            if isinstance(value, dict) and value.get("Ref") in tables}


def table_definitions() -> dict[str, dict]:
    """CreateTable arguments (without TableName) per logical id."""
    return {logical_id: {key: resource["Properties"][key] for key in _CREATE_TABLE_PROPERTIES
                         if key in resource["Properties"]}
            for logical_id, resource in _resources(TABLE).items()}


def route_keys() -> frozenset[str]:
    """The named WebSocket routes; any other action goes to $default, as API Gateway does."""
    return frozenset(resource["Properties"]["RouteKey"] for resource in _resources(WEBSOCKET_ROUTE).values())


def references(node) -> set[str]:
    """Every logical id or parameter a template fragment refers to (Ref, GetAtt, Sub);
    pseudo parameters (AWS::Region...) left out."""
    found = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^!][^}]*)\}", text)} - set(variables)
                found |= references(variables)
            else:
                found |= references(value)
    return {name for name in found if not name.startswith("AWS::")}


def dependencies(packaged: dict) -> dict[str, set[str]]:
    """Resource -> the resources it needs first (references and DependsOn) in a packaged
    template; SAM gives every function what `Globals: Function` refers to."""
    resources = packaged["Resources"]
    shared = references(packaged.get("Globals", {}).get("Function", {}))
    graph = {}
    for logical_id, resource in resources.items():
        needs = references(resource.get("Properties", {})) | (shared if resource["Type"] == FUNCTION else set())
        depends_on = resource.get("DependsOn", [])
        needs |= {depends_on} if isinstance(depends_on, str) else set(depends_on)
        graph[logical_id] = needs & set(resources)
    return graph
