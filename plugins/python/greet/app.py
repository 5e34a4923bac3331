"""A Pincer mcp-server plugin written in Python: greets people and reads its settings.

It is built with componentize-py against the same WIT as the Rust plugins,
`pincer:plugin@0.1.0` (see README.md), and uses three capabilities through it:

- `log`, always granted: one line per greeting;
- `kv`: how many times each person was greeted;
- `config`: the greeting word, which an admin sets with `pincer config set`.

A capability that says no answers with an error value, never a crash; every handler
turns such an answer into a tool result with `is_error` set and the host's reason,
which names the manifest line that would allow the call.
"""

import json
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import prompts, resources, tools
from wit_world.imports import config, kv, log


class Refused(Exception):
    """A capability refused a call; the message says which, and why."""


def ask(action, call, *args):
    """`call(*args)`, a capability import; its error variant becomes `Refused`."""
    try:
        return call(*args)
    except Err as e:
        # The variants are `Error_Denied`, `Error_QuotaExceeded`, ...; each carries
        # the host's explanation as its value.
        kind = type(e.value).__name__.removeprefix("Error_")
        kind = re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower()
        raise Refused(f"Pincer refused to {action} ({kind}): {e.value.value}") from None


def text_result(text, structured=None, is_error=False):
    """A tool result: one text item, and the structured content, if any, as JSON."""
    return tools.CallResult(
        content=[tools.Content_Text(text)],
        structured_content=None if structured is None else json.dumps(structured),
        is_error=is_error,
    )


def string_arg(args, name):
    """The non-empty string argument `name`; its absence is invalid arguments."""
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise Err(tools.CallError_InvalidArguments(f"`{name}` must be a non-empty string"))
    return value


def greet(args):
    name = string_arg(args, "name")
    greeting = ask("read the setting `greeting`", config.get, "greeting") or "Hello"
    key = f"greeted/{name}"
    stored = ask(f"read `{key}`", kv.get, key)
    times = (int(stored) if stored else 0) + 1
    ask(f"store `{key}`", kv.set, key, str(times).encode())
    log.log(log.Level.INFO, f"greeted {name} (greeting number {times})")
    text = f"{greeting}, {name}!"
    return text_result(text, {"greeting": text, "times": times})


def setting(args):
    key = string_arg(args, "key")
    value = ask(f"read the setting `{key}`", config.get, key)
    if value is None:
        return text_result(f"`{key}` is not set", {"key": key, "value": None})
    return text_result(f"{key} = {value}", {"key": key, "value": value})


# Each tool: its description for the model, the JSON Schemas of its arguments and of
# its structured result, and its handler.
TOOLS = {
    "greet": (
        "Greets someone by name with the admin's greeting word, and counts how often.",
        {
            "type": "object",
            "properties": {"name": {"type": "string", "description": "Who to greet"}},
            "required": ["name"],
        },
        {
            "type": "object",
            "properties": {"greeting": {"type": "string"}, "times": {"type": "integer"}},
            "required": ["greeting", "times"],
        },
        greet,
    ),
    "setting": (
        "Reads one of the plugin's settings. Only declared keys can be read.",
        {
            "type": "object",
            "properties": {"key": {"type": "string", "description": "The setting"}},
            "required": ["key"],
        },
        {
            "type": "object",
            "properties": {"key": {"type": "string"}, "value": {"type": ["string", "null"]}},
            "required": ["key", "value"],
        },
        setting,
    ),
}


class Tools(exports.Tools):
    def list_tools(self):
        return [
            tools.Tool(
                name=name,
                title=None,
                description=description,
                input_schema=json.dumps(input_schema),
                output_schema=json.dumps(output_schema),
            )
            for name, (description, input_schema, output_schema, _) in TOOLS.items()
        ]

    def call_tool(self, name, arguments):
        if name not in TOOLS:
            raise Err(tools.CallError_UnknownTool(name))
        try:
            args = json.loads(arguments)
        except ValueError as e:
            raise Err(tools.CallError_InvalidArguments(f"not JSON: {e}")) from None
        if not isinstance(args, dict):
            raise Err(tools.CallError_InvalidArguments("the arguments must be an object"))
        try:
            return TOOLS[name][3](args)
        except Refused as e:
            log.log(log.Level.WARN, str(e))
            return text_result(str(e), is_error=True)


class Resources(exports.Resources):
    def list_resources(self):
        return []

    def read_resource(self, uri):
        raise Err(f"no resource `{uri}`: this plugin has none")


class Prompts(exports.Prompts):
    def list_prompts(self):
        return []

    def get_prompt(self, name, arguments):
        raise Err(f"no prompt `{name}`: this plugin has none")
